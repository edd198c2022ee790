//go:build amd64 && !purego

#include "textflag.h"

// FLIP16 flips the sixteen bytes of X0 (see flipCopy), ORing them into X7
// first; X2, X3 hold addFrom and addPast in each word, X5 0x80 in each
// byte; X1 and X4 are scratch.
#define FLIP16 \
	POR X0, X7 \
	MOVO X0, X1 \
	PADDB X2, X1 \
	MOVO X0, X4 \
	PADDB X3, X4 \
	PANDN X1, X4 \
	PAND X5, X4 \
	PSRLW $2, X4 \
	PXOR X4, X0

// func flipBytes(dst, src *byte, n int, addFrom, addPast uint64) uint64
// dst = src with the bytes in from..to flipped to the other case (n >= 16),
// sixteen bytes a step, two steps a loop, the last sixteen bytes again when
// n is not a multiple of sixteen; the result is the high bits of all
// bytes. PADDB adds in each byte's own lane: no sum carries into the next.
TEXT ·flipBytes(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ addFrom+24(FP), X2
	PUNPCKLQDQ X2, X2
	MOVQ addPast+32(FP), X3
	PUNPCKLQDQ X3, X3
	MOVQ $0x8080808080808080, AX
	MOVQ AX, X5
	PUNPCKLQDQ X5, X5
	PXOR X7, X7
	LEAQ -16(SI)(CX*1), R8 // the last sixteen bytes
	LEAQ -16(DI)(CX*1), R9
	MOVQ CX, DX
	SHRQ $5, DX // pairs of blocks
	JZ one

pair:
	MOVOU (SI), X0
	MOVOU 16(SI), X6
	FLIP16
	MOVOU X0, (DI)
	MOVO X6, X0
	FLIP16
	MOVOU X0, 16(DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ DX
	JNZ pair

one:
	TESTQ $16, CX
	JZ tail
	MOVOU (SI), X0
	FLIP16
	MOVOU X0, (DI)

tail:
	TESTQ $15, CX
	JZ done
	MOVOU (R8), X0
	FLIP16
	MOVOU X0, (R9)

done:
	PMOVMSKB X7, AX
	MOVQ AX, ret+40(FP)
	RET
