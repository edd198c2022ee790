//go:build amd64 && !purego

#include "textflag.h"

// runOp's fields (emitrun.go; TestRunOpLayout checks them).
#define OP_LITW 0
#define OP_LITMASK 8
#define OP_CONN0 16
#define OP_CONN1 24
#define OP_NOTPLAIN 32
#define OP_LITN 40
#define OP_CONNN 48
#define OP_MIN 56
#define OP_STOP 64
#define OP_KIND 72
#define OP_NOT 80
#define OP_TAB 88
#define OP_SIZE 96

// runKind
#define R_NONE 0
#define R_SKIP 1
#define R_SPACE 2
#define R_NOT 3
#define R_DIGSTR 4
#define R_DIGINT 5
#define R_OTHER 6

// func emitRun(ops *runOp, nops, k int, text *byte, tlen int, buf *byte, i, d int, sm *uint64) (int, int, int)
//
// Registers: BX k, R11 &ops[k], SI text, R8 tlen, DI buf, R9 i, R10 d,
// R13 i0 (after the literal); AX, CX, DX, R12 scratch.
TEXT ·emitRun(SB), NOSPLIT, $0-96
	MOVQ k+16(FP), BX
	MOVQ text+24(FP), SI
	MOVQ tlen+32(FP), R8
	MOVQ buf+40(FP), DI
	MOVQ i+48(FP), R9
	MOVQ d+56(FP), R10
	IMUL3Q $OP_SIZE, BX, R11
	ADDQ ops+0(FP), R11
	CMPQ BX, nops+8(FP)
	JGE out

loop:
	// The literal: the word at i, or the line's last bytes (littail).
	LEAQ 8(R9), AX
	CMPQ AX, R8
	JGT littail
	MOVQ (SI)(R9*1), AX

litcmp:
	XORQ OP_LITW(R11), AX
	ANDQ OP_LITMASK(R11), AX
	JNZ out
	MOVQ OP_LITN(R11), R13
	ADDQ R9, R13
	MOVQ OP_KIND(R11), AX
	TESTQ AX, AX // R_NONE
	JZ none
	CMPQ AX, $R_OTHER
	JGE out
	// The next byte of the stop map from i0 on: DX the chunk's words,
	// R12 the op's map, CX where the word's bit 0 is. The first two
	// chunks' words are chosen by a branch, so that their loads do not
	// wait for i0.
	MOVQ sm+64(FP), DX
	MOVQ OP_STOP(R11), R12
	CMPQ R13, $64
	JGE chunk1

chunk:
	MOVQ (DX), AX
	ANDQ OP_NOTPLAIN(R11), AX
	ORQ (DX)(R12*8), AX
	MOVQ R13, CX
	SHRQ CX, AX
	TESTQ AX, AX
	JZ more

found:
	TZCNTQ AX, AX // BSFQ where there is no BMI1: AX is not zero
	ADDQ AX, CX // j
	MOVQ CX, DX
	SUBQ R13, DX // n
	CMPQ DX, OP_MIN(R11)
	JLT out
	MOVQ OP_KIND(R11), AX
	CMPQ AX, $R_NOT
	JEQ knot
	JGT kdigits
	// rSkip, rSpace: the end, or a byte of the class that needs escaping.
	CMPQ CX, R8
	JGE spaceend
	MOVBQZX (SI)(CX*1), R12
	MOVQ OP_TAB(R11), AX
	CMPB (AX)(R12*1), $0
	JNE out

spaceend:
	CMPQ OP_KIND(R11), $R_SKIP
	JEQ skip

field:
	// What comes before the value, then the value: DX bytes from i0.
	MOVQ CX, R9 // i = j
	MOVQ OP_CONN0(R11), AX
	MOVQ AX, (DI)(R10*1)
	MOVQ OP_CONN1(R11), AX
	MOVQ AX, 8(DI)(R10*1)
	ADDQ OP_CONNN(R11), R10 // d0
	LEAQ 16(R13), AX
	CMPQ AX, R8
	JGT copyshort
	MOVQ (SI)(R13*1), AX
	MOVQ AX, (DI)(R10*1)
	MOVQ 8(SI)(R13*1), AX
	MOVQ AX, 8(DI)(R10*1)
	CMPQ DX, $16
	JGT copylong

copied:
	ADDQ DX, R10

next:
	INCQ BX
	ADDQ $OP_SIZE, R11
	CMPQ BX, nops+8(FP)
	JLT loop

out:
	MOVQ BX, ret+72(FP)
	MOVQ R9, ret1+80(FP)
	MOVQ R10, ret2+88(FP)
	RET

none:
	MOVQ R13, R9
	JMP next

skip:
	MOVQ CX, R9
	JMP next

littail:
	MOVQ R8, CX
	SUBQ R9, CX // tlen - i, 0 to 7
	CMPQ CX, OP_LITN(R11)
	JLT out
	XORL AX, AX
	TESTQ CX, CX
	JZ litcmp
	MOVQ -8(SI)(R8*1), AX
	NEGQ CX
	ADDQ $8, CX
	SHLQ $3, CX
	SHRQ CX, AX
	JMP litcmp

chunk1:
	CMPQ R13, $128
	JGE chunkn
	ADDQ $32, DX
	JMP chunk

chunkn:
	MOVQ R13, AX
	SHRQ $6, AX
	SHLQ $5, AX
	ADDQ AX, DX
	JMP chunk

more:
	// The map's last word has every bit past the text set.
	ANDQ $-64, CX

morenext:
	ADDQ $32, DX
	ADDQ $64, CX
	MOVQ (DX), AX
	ANDQ OP_NOTPLAIN(R11), AX
	ORQ (DX)(R12*8), AX
	JZ morenext
	JMP found

knot:
	CMPQ CX, R8
	JGE out
	MOVBQZX (SI)(CX*1), AX
	CMPQ AX, OP_NOT(R11)
	JNE out
	JMP field

kdigits:
	CMPQ AX, $R_DIGINT
	JNE field
	// An int written as it is: 1 to 18 digits, no leading zero.
	TESTQ DX, DX
	JZ out
	CMPQ DX, $18
	JGT out
	CMPQ DX, $1
	JEQ field
	CMPB (SI)(R13*1), $0x30
	JEQ out
	JMP field

copyshort:
	XORL R12, R12 // x
	JMP copyword

copylong:
	MOVQ $16, R12

copyword:
	// Eight bytes from i0+x (the line's last bytes past its end read as
	// zero) to d0+x while x < n.
	CMPQ R12, DX
	JGE copied
	LEAQ 8(R13)(R12*1), AX
	CMPQ AX, R8
	JGT copytail
	LEAQ (R13)(R12*1), AX
	MOVQ (SI)(AX*1), AX
	JMP copystore

copytail:
	SUBQ R8, AX
	SHLQ $3, AX
	MOVQ AX, CX
	MOVQ -8(SI)(R8*1), AX
	SHRQ CX, AX

copystore:
	LEAQ (DI)(R10*1), CX
	MOVQ AX, (CX)(R12*1)
	ADDQ $8, R12
	JMP copyword
