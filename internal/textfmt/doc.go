// Package textfmt reads and writes the text formats that both the parse
// stages (stages/native) and the engine's input and output codecs handle:
// CSV rows (RFC 4180 quoting, one row per line) and logfmt lines. It knows
// nothing of records or pipelines and depends on the standard library alone.
package textfmt
