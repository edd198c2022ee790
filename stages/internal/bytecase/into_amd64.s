//go:build amd64 && !purego

#include "textflag.h"

// func flipBlocks(dst, src *byte, n int, from, to byte)
//
// Sixteen bytes at a time (SSE2, in every amd64): x = c - from (wrapping);
// c is in from..to when x <= to - from, unsigned, that is when
// min(x, to - from) == x; those bytes get 0x20 flipped. n is a multiple of
// 16.
TEXT ·flipBlocks(SB), NOSPLIT, $0-26
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    n+16(FP), CX
	MOVBQZX from+24(FP), AX
	MOVBQZX to+25(FP), BX
	SUBQ    AX, BX
	MOVQ    $0x0101010101010101, DX
	IMULQ   DX, AX
	IMULQ   DX, BX
	MOVQ    AX, X1
	PUNPCKLQDQ X1, X1 // from in every byte
	MOVQ    BX, X2
	PUNPCKLQDQ X2, X2 // to - from in every byte
	MOVQ    $0x2020202020202020, DX
	MOVQ    DX, X3
	PUNPCKLQDQ X3, X3

loop:
	CMPQ    CX, $16
	JB      done
	MOVOU   (SI), X0
	MOVO    X0, X4
	PSUBB   X1, X4
	MOVO    X4, X5
	PMINUB  X2, X5
	PCMPEQB X4, X5
	PAND    X3, X5
	PXOR    X5, X0
	MOVOU   X0, (DI)
	ADDQ    $16, SI
	ADDQ    $16, DI
	SUBQ    $16, CX
	JMP     loop

done:
	RET
