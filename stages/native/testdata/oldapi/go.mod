module example.com/oldapi

go 1.26.0

require github.com/pipe-dev/pipe v1.0.0

replace github.com/pipe-dev/pipe => ./pipe1
