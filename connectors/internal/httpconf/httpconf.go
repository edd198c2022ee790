// Package httpconf holds what the HTTP input and output configure alike: a
// bearer token read from an environment variable or a file, and errors
// about one configuration field.
package httpconf

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// FieldError is a configuration error about one field; a connector's
// constructor positions it at the field in the pipeline file.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Field names of the token.
const (
	TokenEnv  = "bearer_token_env"
	TokenFile = "bearer_token_file"
)

// CheckToken reports setting both the variable and the file.
func CheckToken(env, file string) error {
	if env != "" && file != "" {
		return &FieldError{TokenFile, errors.New("set bearer_token_env or bearer_token_file, not both")}
	}
	return nil
}

// Token reads the bearer token from the environment variable env or from
// file (surrounding white space dropped); "" when neither is set. A
// variable that is unset or empty, and a file that cannot be read or is
// empty, are *FieldError values.
func Token(env, file string) (string, error) {
	switch {
	case env != "":
		t, ok := os.LookupEnv(env)
		if !ok || strings.TrimSpace(t) == "" {
			return "", &FieldError{TokenEnv, fmt.Errorf("environment variable %s is not set or empty", env)}
		}
		return strings.TrimSpace(t), nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", &FieldError{TokenFile, fmt.Errorf("read token: %w", err)}
		}
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", &FieldError{TokenFile, fmt.Errorf("token file %s is empty", file)}
		}
		return t, nil
	}
	return "", nil
}
