//go:build amd64 && !purego

#include "textflag.h"

// func quoteWords(b *byte, words int, out *uint64)
// Bit j of out[k] is set when b[64k+j] is '"' or '\\' (SSE2, sixteen
// bytes at a time, each word written with one store).
TEXT ·quoteWords(SB), NOSPLIT, $0-24
	MOVQ b+0(FP), SI
	MOVQ words+8(FP), CX
	MOVQ out+16(FP), DI
	MOVQ $0x2222222222222222, AX
	MOVQ AX, X1
	PUNPCKLQDQ X1, X1
	MOVQ $0x5c5c5c5c5c5c5c5c, AX
	MOVQ AX, X2
	PUNPCKLQDQ X2, X2
	TESTQ CX, CX
	JZ done

loop:
	MOVOU (SI), X0
	MOVO X0, X4
	PCMPEQB X1, X4
	PCMPEQB X2, X0
	POR X0, X4
	PMOVMSKB X4, AX

	MOVOU 16(SI), X0
	MOVO X0, X4
	PCMPEQB X1, X4
	PCMPEQB X2, X0
	POR X0, X4
	PMOVMSKB X4, BX
	SHLQ $16, BX
	ORQ BX, AX

	MOVOU 32(SI), X0
	MOVO X0, X4
	PCMPEQB X1, X4
	PCMPEQB X2, X0
	POR X0, X4
	PMOVMSKB X4, BX
	SHLQ $32, BX
	ORQ BX, AX

	MOVOU 48(SI), X0
	MOVO X0, X4
	PCMPEQB X1, X4
	PCMPEQB X2, X0
	POR X0, X4
	PMOVMSKB X4, BX
	SHLQ $48, BX
	ORQ BX, AX

	MOVQ AX, (DI)
	ADDQ $64, SI
	ADDQ $8, DI
	DECQ CX
	JNZ loop

done:
	RET
