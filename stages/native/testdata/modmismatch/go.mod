module example.com/modmismatch

go 1.26.0

require (
	github.com/pipe-dev/pipe v0.0.0
	gopkg.in/yaml.v3 v3.0.1
)

replace github.com/pipe-dev/pipe => ../../../..

replace gopkg.in/yaml.v3 => gopkg.in/yaml.v3 v3.0.0
