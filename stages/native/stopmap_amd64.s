//go:build amd64 && !purego

#include "textflag.h"

// One sixteen-byte block of text at off(SI) into the four masks' bits
// shift and up (SSE2): AX plain bytes (0x20-0x7f but '"' and '\\'), DX
// ' ', R8 digits, R9 c1 or c2. X1-X8 hold the constants (see
// stopWords).
#define BLOCK(off, shift) \
	MOVOU off(SI), X0 \
	MOVO X0, X9 \
	PCMPGTB X1, X9 \
	MOVO X0, X10 \
	PCMPEQB X2, X10 \
	MOVO X0, X11 \
	PCMPEQB X3, X11 \
	POR X11, X10 \
	PANDN X9, X10 \
	MOVO X0, X11 \
	PCMPEQB X4, X11 \
	MOVO X0, X12 \
	PCMPGTB X5, X12 \
	MOVO X6, X13 \
	PCMPGTB X0, X13 \
	PAND X13, X12 \
	MOVO X0, X13 \
	PCMPEQB X7, X13 \
	PCMPEQB X8, X0 \
	POR X13, X0 \
	PMOVMSKB X10, R11 \
	SHLQ $shift, R11 \
	ORQ R11, AX \
	PMOVMSKB X11, R11 \
	SHLQ $shift, R11 \
	ORQ R11, DX \
	PMOVMSKB X12, R11 \
	SHLQ $shift, R11 \
	ORQ R11, R8 \
	PMOVMSKB X0, R11 \
	SHLQ $shift, R11 \
	ORQ R11, R9

// One 64-byte chunk at SI into AX (not plain), DX (' '), R8 (not a
// digit), R9 (c1 or c2); R11 scratch.
#define CHUNK \
	XORL AX, AX \
	XORL DX, DX \
	XORL R8, R8 \
	XORL R9, R9 \
	BLOCK(0, 0) \
	BLOCK(16, 16) \
	BLOCK(32, 32) \
	BLOCK(48, 48) \
	NOTQ AX \
	NOTQ R8

// The byte in AX in each of x's sixteen bytes (BX holds 0x0101010101010101).
#define SPREAD(x) \
	IMULQ BX, AX \
	MOVQ AX, x \
	PUNPCKLQDQ x, x

// The byte c (a constant) in each of x's sixteen bytes.
#define BYTES(c, x) \
	MOVL c, AX \
	SPREAD(x)

// func stopWords(b *byte, n int, c1, c2 byte, out *uint64)
// The stop map of the n >= 1 bytes at b (see stopMap): for each 64
// bytes b[64k:64k+64], bit j of out[4k+m] is set when byte 64k+j is in
// map m: 0 not plain (a control byte, '"', '\\', from 0x80 up), 1 ' ',
// 2 not an ASCII digit, 3 c1 or c2; then the words of the last n%64
// bytes (the last 64 bytes read again, shifted), every bit past n set.
TEXT ·stopWords(SB), NOSPLIT, $0-32
	MOVQ b+0(FP), SI
	MOVQ n+8(FP), R13
	MOVQ out+24(FP), DI
	MOVQ $0x0101010101010101, BX
	BYTES($0x1f, X1)
	BYTES($0x22, X2) // '"'
	BYTES($0x5c, X3) // '\\'
	BYTES($0x20, X4)
	BYTES($0x2f, X5)
	BYTES($0x3a, X6)
	MOVBQZX c1+16(FP), AX
	SPREAD(X7)
	MOVBQZX c2+17(FP), AX
	SPREAD(X8)
	MOVQ R13, R12
	SHRQ $6, R12
	JZ tail

loop:
	CHUNK
	MOVQ AX, 0(DI)
	MOVQ DX, 8(DI)
	MOVQ R8, 16(DI)
	MOVQ R9, 24(DI)
	ADDQ $64, SI
	ADDQ $32, DI
	DECQ R12
	JNZ loop

tail:
	MOVQ $-1, R11
	MOVQ R13, CX
	ANDQ $63, CX
	JZ past
	MOVQ b+0(FP), SI
	LEAQ -64(SI)(R13*1), SI
	CHUNK
	// The last n%64 bytes' bits to the bottom, every bit past them set.
	MOVQ R13, CX
	NEGQ CX
	ANDQ $63, CX
	SHRQ CX, AX
	SHRQ CX, DX
	SHRQ CX, R8
	SHRQ CX, R9
	MOVQ R13, CX
	MOVQ $-1, R11
	SHLQ CX, R11
	ORQ R11, AX
	ORQ R11, DX
	ORQ R11, R8
	ORQ R11, R9
	MOVQ AX, 0(DI)
	MOVQ DX, 8(DI)
	MOVQ R8, 16(DI)
	MOVQ R9, 24(DI)
	RET

past:
	MOVQ R11, 0(DI)
	MOVQ R11, 8(DI)
	MOVQ R11, 16(DI)
	MOVQ R11, 24(DI)
	RET
