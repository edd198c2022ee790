# plugins fixtures: ssh-keygen (Debian openssh-client) for the test that
# OpenSSH verifies the signatures pipe makes (internal/plugins).
.PHONY: plugins-ssh-keygen
FIXTURES += plugins-ssh-keygen

plugins-ssh-keygen:
	@command -v ssh-keygen >/dev/null || { echo "installing ssh-keygen (Debian openssh-client)"; apt-get install -y openssh-client || sudo apt-get install -y openssh-client || echo "ssh-keygen missing: the standard-tool signature test will be skipped"; }
