//go:build amd64 && !purego

#include "textflag.h"

// func specialMasks(b *byte, blocks int, out *uint16)
TEXT ·specialMasks(SB), NOSPLIT, $0-24
	MOVQ b+0(FP), SI
	MOVQ blocks+8(FP), CX
	MOVQ out+16(FP), DI
	MOVQ $0x2222222222222222, AX
	MOVQ AX, X1
	PUNPCKLQDQ X1, X1
	MOVQ $0x5c5c5c5c5c5c5c5c, AX
	MOVQ AX, X2
	PUNPCKLQDQ X2, X2
	MOVQ $0x1f1f1f1f1f1f1f1f, AX
	MOVQ AX, X3
	PUNPCKLQDQ X3, X3
	TESTQ CX, CX
	JZ done

loop:
	MOVOU (SI), X0
	MOVO X0, X4
	PCMPEQB X1, X4
	MOVO X0, X5
	PCMPEQB X2, X5
	POR X5, X4
	MOVO X0, X6
	PMINUB X3, X6
	PCMPEQB X0, X6
	POR X6, X4
	PMOVMSKB X4, AX
	MOVW AX, (DI)
	ADDQ $16, SI
	ADDQ $2, DI
	DECQ CX
	JNZ loop

done:
	RET
