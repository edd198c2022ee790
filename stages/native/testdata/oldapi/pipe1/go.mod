module github.com/pipe-dev/pipe

go 1.26.0
