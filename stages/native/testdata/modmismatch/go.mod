module example.com/modmismatch

go 1.26.0

require github.com/pipe-dev/pipe v0.0.0

require (
	github.com/klauspost/compress v1.20.4 // indirect
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3 // indirect
	github.com/tidwall/gjson v1.18.0 // indirect
	github.com/tidwall/match v1.1.1 // indirect
	github.com/tidwall/pretty v1.2.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace github.com/pipe-dev/pipe => ../../../..

replace gopkg.in/yaml.v3 => gopkg.in/yaml.v3 v3.0.0
