// Package interrupt makes a WebAssembly module interruptible without
// wazero's close-on-context-done, which exits from compiled code to Go at
// every loop back-edge and function entry and makes guests 3-11 times
// slower. Rewrite adds two mutable i32 globals, a flag (exported as
// FlagExport) and a countdown, and a counter local to every function: each
// loop header counts in the local (the dispatch loops of Go's wasm backend
// count down the global instead), each function entry counts down the
// global (unless the function opens with such a dispatch loop, whose check
// counts the entry), and every TickEvery counts the guest ticks: it exits to Go (a
// ref.func, where the Go runtime can preempt it) and traps
// (`unreachable`) if the flag is set. A Flag, armed for one call with the
// call's context, sets the flag when the context is done. This is the idea
// of wasmtime's epoch interruption, with ticks because Go cannot preempt
// native code: a guest that never left it would hold up the garbage
// collector's stop-the-world, and with it the watchdog.
//
// Rewrite also bounds the call stack (Options.StackLimit): a third global,
// exported as StackExport, sums an estimate of the frame of every function
// running (FrameEstimate), added at the function's entry and subtracted on
// every way out of it; a call that would take it past the limit traps. So
// endless recursion stops at a stack of about the limit, instead of at
// wazero's own ceiling of about 80 MB per instance (which, with the copies
// of the stack as it doubles, took the process to 340-550 MB).
package interrupt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// FlagExport names the added global: i32, mutable, 0 while the guest may
// run, 1 when it must stop.
const FlagExport = "pipe_interrupt"

// StartExport names the module's start function, which Rewrite takes out of
// the start section (where it would run inside instantiation, before a
// Flag can exist) and exports instead: the host calls it, armed, right
// after instantiation and before anything else.
const StartExport = "pipe_interrupt_start"

// StackExport names the added global that holds the call stack estimate:
// i32, mutable, the sum of FrameEstimate of every function running. After
// a trap it is above Options.StackLimit if the stack bound caused it.
const StackExport = "pipe_call_stack"

// MaxStackLimit is the largest Options.StackLimit.
const MaxStackLimit = 1 << 30

// Options says what Rewrite adds.
type Options struct {
	// Interrupt adds the interrupt flag (FlagExport), the countdown, the
	// checks at function entries and loop headers, and moves a start
	// function to StartExport.
	Interrupt bool
	// StackLimit, if not 0, bounds the call stack estimate (StackExport)
	// to this many bytes: a call that would take it higher traps
	// (unreachable) before running its body. At most MaxStackLimit.
	StackLimit uint32
	// MergeData writes the data section in as few segments as it can (see
	// mergeData) when every segment is active at a constant offset and
	// the code refers to none (memory.init, data.drop).
	MergeData bool
	// ThreadJumps turns a branch to a dispatch loop (see threadable)
	// that is known to land, through the loop's br_table, at the end of
	// a block enclosing the branch into a branch to that block: the same
	// place, without the loop's header and its br_table. Go's wasm
	// backend compiles every jump between basic blocks of a function to
	// such a branch.
	ThreadJumps bool
}

// FrameEstimate is what a call of a function with n parameters and locals
// adds to the call stack estimate: 32 bytes plus 16 per parameter and
// local. It is on the high side of what wazero 1.12's compiler uses on
// amd64 (measured: 24, 79, 270 and 943 bytes a frame for recursive
// functions with 1, 8, 32 and 128 i64 locals live across the call, against
// 48, 160, 544 and 2080 here); a frame also holds values of the operand
// stack live across a call, which the estimate does not count, so a
// function with few locals and deep expressions around its calls may use
// more than it is charged.
func FrameEstimate(n uint64) uint64 { return 32 + 16*n }

// ErrUnsupported is wrapped by Rewrite's errors: the module uses an encoding
// or instruction the rewriter does not know, or is malformed. The caller
// falls back to another way of interrupting it.
var ErrUnsupported = errors.New("module cannot be rewritten")

// Section ids of the core binary format.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// rank is a section's place in the required order (custom sections go
// anywhere and have none).
var rank = map[byte]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5, secTag: 6,
	secGlobal: 7, secExport: 8, secStart: 9, secElement: 10, secDataCount: 11, secCode: 12, secData: 13,
}

var header = []byte{0, 'a', 's', 'm', 1, 0, 0, 0}

type section struct {
	id      byte
	payload []byte
}

// Rewrite returns a copy of the binary module bin with what o asks for.
//
// With o.Interrupt, the checks of checkCode at every function entry and
// loopCode at every loop header (the target of its back-edges; wrapCode
// or countCode where the loop is wrapped, and no entry check in a function
// that runs a countCode check before it can call: see entersCountedLoop): the flag
// and the countdown globals are appended after the module's globals and
// the counter after each function's locals. A module must then export a
// function or have a start function (the tick's ref.func names it); a
// start section is removed and its function exported as StartExport.
//
// With o.StackLimit, the stack global (StackExport) is appended too; each
// function body adds its FrameEstimate to it at entry (trapping past the
// limit), runs inside an added block that every branch to the function's
// own label now leaves, and subtracts the estimate after that block and
// before each return, return_call and return_call_indirect. (A trap
// leaves the sum high: the instance is to be discarded after any trap.
// Exceptions, which wazero's default features leave out, would unwind
// frames without subtracting.) Types for the added blocks of functions with
// several results are appended to the type section.
//
// Nothing is renumbered (globals, locals and types are appended), so
// calls, tables, exports and the name section stay valid. Custom sections
// that hold code offsets (DWARF .debug_*, metadata.code.*) are dropped; the
// others are kept.
//
// Rewrite validates only what it must read; the result is meant to be
// compiled (and so validated) by the caller. Errors wrap ErrUnsupported.
func Rewrite(bin []byte, o Options) ([]byte, error) {
	if o.StackLimit > MaxStackLimit {
		return nil, fmt.Errorf("stack limit %d over the maximum %d", o.StackLimit, MaxStackLimit)
	}
	out, err := rewrite(bin, o)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	return out, nil
}

func rewrite(bin []byte, o Options) (out []byte, err error) {
	if !bytes.HasPrefix(bin, header) {
		return nil, errors.New("not a version 1 core module")
	}
	r := &reader{b: bin, pos: len(header)}
	var secs []section
	for r.pos < len(r.b) {
		id := r.byte()
		n := r.u32()
		payload := r.bytes(int(n))
		if r.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, r.err)
		}
		if id != secCustom && rank[id] == 0 {
			return nil, fmt.Errorf("unknown section id %d", id)
		}
		secs = append(secs, section{id, payload})
	}

	var importedGlobals, definedGlobals uint32
	globalAt, exportAt := -1, -1
	for i, s := range secs {
		switch s.id {
		case secImport:
			if importedGlobals, err = countImports(s.payload); err != nil {
				return nil, fmt.Errorf("import section: %w", err)
			}
		case secGlobal:
			globalAt = i
			gr := &reader{b: s.payload}
			definedGlobals = gr.u32()
			if gr.err != nil {
				return nil, fmt.Errorf("global section: %w", gr.err)
			}
		case secExport:
			exportAt = i
		}
	}
	// The tick's exit to Go is a ref.func, which must name a function the
	// module declares: an exported one, or the start function (exported
	// below).
	var tickFunc uint32
	if o.Interrupt {
		var ok bool
		if tickFunc, ok = exportedFunc(secs); !ok {
			return nil, errors.New("the module exports no function (the tick's ref.func needs one)")
		}
	}
	sigs, ntypes, err := functionSigs(secs)
	if err != nil {
		return nil, err
	}
	c := &codeRewrite{o: o, tickFunc: tickFunc, blockTypes: map[string]uint32{}, ntypes: ntypes}
	next := importedGlobals + definedGlobals
	var globals []byte
	var nglobals uint32
	var exports []export
	if o.Interrupt {
		c.flag, c.count = next, next+1
		next += 2
		globals = append(globals, 0x7f, 0x01, 0x41, 0x00, 0x0b) // i32 mut, i32.const 0, end
		globals = appendS32(append(globals, 0x7f, 0x01, 0x41), TickEvery)
		globals = append(globals, 0x0b)
		nglobals += 2
		c.entry = checkCode(c.flag, c.count, tickFunc)
		exports = append(exports, export{FlagExport, 0x03, c.flag})
	}
	if o.StackLimit > 0 {
		c.stack = next
		globals = append(globals, 0x7f, 0x01, 0x41, 0x00, 0x0b)
		nglobals++
		exports = append(exports, export{StackExport, 0x03, c.stack})
	}
	if nglobals == 0 && !o.MergeData && !o.ThreadJumps {
		return append([]byte(nil), bin...), nil
	}

	var kept []section
	var dataCount *uint32 // the segments after merging
	var startFunc uint32
	hasStart := false
	for _, s := range secs {
		switch {
		case s.id == secCustom:
			name, _ := (&reader{b: s.payload}).name()
			if bytes.HasPrefix([]byte(name), []byte(".debug")) || bytes.HasPrefix([]byte(name), []byte("metadata.code.")) {
				continue
			}
		case s.id == secGlobal:
			s.payload = appendVecItems(s.payload, definedGlobals, nglobals, globals)
		case s.id == secStart && o.Interrupt:
			sr := &reader{b: s.payload}
			startFunc, hasStart = sr.u32(), true
			if sr.err != nil || sr.pos != len(sr.b) {
				return nil, errors.New("malformed start section")
			}
			continue
		case s.id == secCode:
			p, err := c.code(s.payload, sigs)
			if err != nil {
				return nil, fmt.Errorf("code section: %w", err)
			}
			s.payload = p
		case s.id == secData && o.MergeData && !c.dataRefs:
			// (The code section, which comes before, has been read.)
			if p, n, ok := mergeData(s.payload); ok {
				s.payload = p
				dataCount = &n
			}
		}
		kept = append(kept, s)
	}
	if hasStart {
		exports = append(exports, export{StartExport, 0x00, startFunc})
	}
	if dataCount != nil {
		for i := range kept {
			if kept[i].id == secDataCount {
				kept[i].payload = appendU32(nil, *dataCount)
			}
		}
	}
	if len(c.newTypes) > 0 {
		// The code section comes after the type section: the block types
		// its rewrite needed are known only now.
		for i := range kept {
			if kept[i].id == secType {
				kept[i].payload = appendVecItems(kept[i].payload, ntypes, uint32(len(c.newTypes)), bytes.Join(c.newTypes, nil))
			}
		}
	}
	if globalAt < 0 {
		kept = insertSection(kept, section{secGlobal, appendVecItems([]byte{0}, 0, nglobals, globals)})
	}
	if exportAt < 0 {
		kept = insertSection(kept, section{secExport, []byte{0}})
	}
	for i := range kept {
		if kept[i].id == secExport {
			if kept[i].payload, err = addExports(kept[i].payload, exports); err != nil {
				return nil, fmt.Errorf("export section: %w", err)
			}
		}
	}

	out = append(make([]byte, 0, len(bin)+len(bin)/16), header...)
	for _, s := range kept {
		out = append(out, s.id)
		out = appendU32(out, uint32(len(s.payload)))
		out = append(out, s.payload...)
	}
	return out, nil
}

// TickEvery is how many loop iterations (per call) or function entries
// and iterations of dispatch loops (per instance) pass between two ticks. A tick exits to Go (a ref.func),
// which lets the Go runtime preempt the goroutine (native code
// cannot be preempted: without the exits a spinning guest would hold up
// garbage collection's stop-the-world, and with it the watchdog), then
// tests the flag. It bounds the interruption latency: TickEvery iterations
// of the slowest loop body, or TickEvery calls.
const TickEvery = 1 << 12

// tickCode is the tick: an exit to Go, then a trap if the flag is set. The
// exit is a ref.func of fn, dropped: wazero's compiler makes it a call into
// Go (which the Go runtime can preempt) that, unlike memory.grow or a call
// of a host function, does not make it reload the memory's base and length
// after it, so the loop around keeps its bounds-check eliminations.
func tickCode(flag, fn uint32) []byte {
	b := appendU32([]byte{0xd2}, fn)         // ref.func $fn
	b = append(b, 0x1a)                      // drop
	b = appendU32(append(b, 0x23), flag)     // global.get $flag
	return append(b, 0x04, 0x40, 0x00, 0x0b) // if  unreachable  end
}

// exportedFunc returns the index of a function the module exports, or else
// of its start function.
func exportedFunc(secs []section) (uint32, bool) {
	for _, s := range secs {
		switch s.id {
		case secExport:
			r := &reader{b: s.payload}
			for range r.u32() {
				r.name()
				kind := r.byte()
				idx := r.u32()
				if r.err != nil {
					break
				}
				if kind == 0x00 {
					return idx, true
				}
			}
		case secStart:
			r := &reader{b: s.payload}
			if idx := r.u32(); r.err == nil {
				return idx, true
			}
		}
	}
	return 0, false
}

// checkCode is the check inserted at function entries, with the global flag,
// the global countdown count and the tick's function fn:
//
//	global.get $count  i32.const 1  i32.sub  global.set $count
//	global.get $count  i32.eqz
//	if  i32.const TickEvery  global.set $count  (tick)  end
//
// wazero's compiler keeps $count in a register between the set and the
// get: a load, a subtraction, a store and a branch not taken.
func checkCode(flag, count, fn uint32) []byte {
	getCount := appendU32([]byte{0x23}, count)
	setCount := appendU32([]byte{0x24}, count)
	b := append([]byte{}, getCount...)
	b = append(b, 0x41, 0x01, 0x6b)
	b = append(b, setCount...)
	b = append(b, getCount...)
	b = append(b, 0x45, 0x04, 0x40)
	b = appendS32(append(b, 0x41), TickEvery)
	b = append(b, setCount...)
	b = append(b, tickCode(flag, fn)...)
	return append(b, 0x0b)
}

// wrapCode returns the code that wraps a loop (a loop of no parameters
// and no or one result) so that its tick runs outside it, with the global
// flag, the local counter and the tick's function fn. The loop
//
//	loop $l  BODY  end
//
// becomes
//
//	block $after         (the loop's result type)
//	  loop $retick
//	    block $tick
//	      global.get $flag  br_if $tick
//	      loop $l
//	        local.get $n  i32.const 1  i32.add  local.tee $n
//	        i32.const TickEvery-1  i32.and  i32.eqz  if  br $tick  end
//	        BODY         (branches to labels outside $l: + 3)
//	      end
//	      br $after
//	    end
//	    (tick)  br $retick
//	  end
//	  (unreachable, when the loop has a result)
//	end
//
// head goes between the block type of $after and the loop, check after
// the loop's block type, tail after the loop's end. The common path per
// iteration is the same as loopCode's (two register operations and an
// untaken branch), but the tick's exit to Go, which wazero's compiler
// treats as a call, is outside the loop: a call inside it made the
// register allocator store the values the loop carries at every
// iteration and reload them after every merge. The flag test before the
// loop gives the tick block a second predecessor, so that the values
// crossing the tick's call are that block's own (stored only on the way
// in), not the loop header's (stored at every back-edge).
func wrapCode(flag, counter, fn uint32) (head, check, tail []byte) {
	head = []byte{0x03, 0x40, 0x02, 0x40}
	head = appendU32(append(head, 0x23), flag)
	head = append(head, 0x0d, 0x00)
	check = appendU32([]byte{0x20}, counter)
	check = append(check, 0x41, 0x01, 0x6a)
	check = appendU32(append(check, 0x22), counter)
	check = appendS32(append(check, 0x41), TickEvery-1)
	check = append(check, 0x71, 0x45, 0x04, 0x40, 0x0c, 0x02, 0x0b)
	tail = []byte{0x0c, 0x02, 0x0b}
	tail = append(tail, tickCode(flag, fn)...)
	tail = append(tail, 0x0c, 0x00, 0x0b)
	return head, check, tail
}

// countCode returns the check and the tail of a wrapped loop (see
// wrapCode; the head is the same) that counts its iterations in the
// global countdown of the function entries instead of the function's
// local counter:
//
//	loop $l
//	  global.get $count  i32.const 1  i32.sub  global.set $count
//	  global.get $count  i32.eqz  if  br $tick  end
//	  BODY
//	end
//	br $after
//	end  i32.const TickEvery  global.set $count  (tick)  br $retick
//
// It is for the dispatch loops of Go's wasm backend (see dispatch), which
// are the only loop of a Go function and which every backward jump goes
// through. Their bodies call (every Go function that can grow its stack
// calls runtime.morestack from inside the loop), so wazero's register
// allocator keeps a local counter in memory anyway, stored at the
// br_table's indirect jump and reloaded at every back-edge, and the
// counter's register was one more the loop's values competed for: the
// global costs a load and a store and no register (measured: 3,060
// instructions a record less for the W2 Go guest, of the 6,690 its
// checks cost over timeout: 0). Other loops (clang's, hand-written ones),
// whose counter can stay in a register, where a load and a store would
// lengthen a tight loop's critical path, keep the local counter.
func countCode(flag, count, fn uint32) (check, tail []byte) {
	check = appendU32([]byte{0x23}, count)
	check = append(check, 0x41, 0x01, 0x6b)
	check = appendU32(append(check, 0x24), count)
	check = appendU32(append(check, 0x23), count)
	check = append(check, 0x45, 0x04, 0x40, 0x0c, 0x02, 0x0b)
	tail = []byte{0x0c, 0x02, 0x0b}
	tail = appendS32(append(tail, 0x41), TickEvery)
	tail = appendU32(append(tail, 0x24), count)
	tail = append(tail, tickCode(flag, fn)...)
	tail = append(tail, 0x0c, 0x00, 0x0b)
	return check, tail
}

// entersCountedLoop reports whether a function body (its code, after the
// locals) runs the check of a loop counted in the global countdown (a
// dispatch loop, see countCode) at each entry before it can call, branch
// or return: it opens with nothing but blocks without parameters and
// instructions that neither branch nor call, then that loop. The loop's
// check then counts every call of the function, as the entry check would:
// the function needs none. (Go's wasm backend gives every function with
// jumps this shape: `global.get $sp  local.set  block  loop  block ...
// br_table`. The entry check there was measured to cost the W2 Go guest
// 1,240 instructions a record for its 22 calls, nearly all of it in
// bytes.ToUpper, whose loops' register allocation it made worse.)
func entersCountedLoop(code []byte) bool {
	r := &reader{b: code}
	for r.err == nil {
		switch op := r.byte(); {
		case op == 0x01: // nop
		case op == 0x02: // block: without parameters or results
			if r.byte() != 0x40 {
				return false
			}
		case op == 0x03: // loop
			return r.byte() == 0x40 && dispatchAt(code[r.pos:]) != nil
		case op >= 0x20 && op <= 0x24: // local.get/set/tee, global.get/set
			r.u32()
		case op == 0x41:
			r.s32()
		case op == 0x42:
			r.leb(10)
		case op >= 0x45 && op <= 0xc4: // numeric, no immediates
		default:
			return false
		}
	}
	return false
}

// loopCode is the check inserted at loop headers, with the global flag, the
// local counter (one per function call, kept in a register) and the tick's
// function fn:
//
//	local.get $n  i32.const 1  i32.add  local.tee $n
//	i32.const TickEvery-1  i32.and  i32.eqz
//	if  (tick)  end
//
// The common path is two register operations and a branch not taken: no
// load, no store.
func loopCode(flag, counter, fn uint32) []byte {
	b := appendU32([]byte{0x20}, counter)
	b = append(b, 0x41, 0x01, 0x6a)
	b = appendU32(append(b, 0x22), counter)
	b = appendS32(append(b, 0x41), TickEvery-1)
	b = append(b, 0x71, 0x45, 0x04, 0x40)
	b = append(b, tickCode(flag, fn)...)
	return append(b, 0x0b)
}

// insertSection puts s before the first non-custom section that must follow
// it.
func insertSection(secs []section, s section) []section {
	at := len(secs)
	for i, x := range secs {
		if x.id != secCustom && rank[x.id] > rank[s.id] {
			at = i
			break
		}
	}
	// Keep custom sections that sit right before the follower with it.
	return append(secs[:at], append([]section{s}, secs[at:]...)...)
}

// appendVecItems returns vec (a count followed by items, whose count is n)
// with k items (encoded in items) added.
func appendVecItems(vec []byte, n, k uint32, items []byte) []byte {
	r := &reader{b: vec}
	r.u32()
	out := appendU32(nil, n+k)
	out = append(out, vec[r.pos:]...)
	return append(out, items...)
}

// export is an export to add: a name, a kind (0x00 function, 0x03
// global) and an index.
type export struct {
	name string
	kind byte
	idx  uint32
}

// addExports adds exports to an export section's payload, refusing a name
// the module already exports.
func addExports(payload []byte, exports []export) ([]byte, error) {
	r := &reader{b: payload}
	n := r.u32()
	for range n {
		name, _ := r.name()
		r.byte()
		r.u32()
		if r.err != nil {
			return nil, r.err
		}
		for _, e := range exports {
			if name == e.name {
				return nil, fmt.Errorf("the module already exports %q", e.name)
			}
		}
	}
	if r.pos != len(r.b) {
		return nil, errors.New("trailing bytes")
	}
	var items []byte
	for _, e := range exports {
		items = appendU32(items, uint32(len(e.name)))
		items = append(items, e.name...)
		items = appendU32(append(items, e.kind), e.idx)
	}
	return appendVecItems(payload, n, uint32(len(exports)), items), nil
}

// countImports reads an import section and counts its globals.
func countImports(payload []byte) (globals uint32, err error) {
	r := &reader{b: payload}
	n := r.u32()
	for range n {
		r.name()
		r.name()
		switch kind := r.byte(); kind {
		case 0x00: // func: type index
			r.u32()
		case 0x01: // table: reftype, limits
			r.refType()
			r.limits()
		case 0x02: // memory: limits
			r.limits()
		case 0x03: // global: valtype, mutability
			r.valType()
			r.byte()
			globals++
		case 0x04: // tag: attribute, type index
			r.byte()
			r.u32()
		default:
			return 0, fmt.Errorf("unknown import kind %#x", kind)
		}
		if r.err != nil {
			return 0, r.err
		}
	}
	if r.pos != len(r.b) {
		return 0, errors.New("trailing bytes")
	}
	return globals, nil
}

// sig is what the rewrite needs of a function's type: the number of its
// parameters and its results (their encoded value types, and how many).
type sig struct {
	params   uint32
	results  []byte
	nresults uint32
}

// functionSigs returns the signature of each function the module defines
// (in code section order) and the number of types.
func functionSigs(secs []section) ([]sig, uint32, error) {
	var types, funcs []byte
	for _, s := range secs {
		switch s.id {
		case secType:
			types = s.payload
		case secFunction:
			funcs = s.payload
		}
	}
	var all []sig
	r := &reader{b: types}
	if types != nil {
		for range r.u32() {
			if form := r.byte(); form != 0x60 {
				return nil, 0, fmt.Errorf("type section: unknown type form %#x", form)
			}
			var t sig
			t.params = r.u32()
			for range t.params {
				r.valType()
				if r.err != nil {
					break
				}
			}
			t.nresults = r.u32()
			from := r.pos
			for range t.nresults {
				r.valType()
				if r.err != nil {
					break
				}
			}
			if r.err != nil {
				return nil, 0, fmt.Errorf("type section: %w", r.err)
			}
			t.results = r.b[from:r.pos]
			all = append(all, t)
		}
	}
	var sigs []sig
	r = &reader{b: funcs}
	if funcs != nil {
		for range r.u32() {
			t := r.u32()
			if r.err != nil || int(t) >= len(all) {
				return nil, 0, errors.New("function section: bad type index")
			}
			sigs = append(sigs, all[t])
		}
	}
	return sigs, uint32(len(all)), nil
}

// codeRewrite is the rewrite of the code section.
type codeRewrite struct {
	o           Options
	flag, count uint32 // globals of Interrupt
	stack       uint32 // global of StackLimit
	tickFunc    uint32
	entry       []byte            // the interrupt check at function entries
	blockTypes  map[string]uint32 // type index of () -> results, by results
	ntypes      uint32            // types in the module, before newTypes
	newTypes    [][]byte          // encoded types to append
	dataRefs    bool              // the code has memory.init or data.drop
}

// code returns the rewritten code section payload.
func (c *codeRewrite) code(payload []byte, sigs []sig) ([]byte, error) {
	r := &reader{b: payload}
	n := r.u32()
	if r.err != nil {
		return nil, r.err
	}
	if int(n) != len(sigs) {
		return nil, errors.New("function and code sections disagree")
	}
	out := appendU32(make([]byte, 0, len(payload)+len(payload)/4), n)
	var body []byte
	for i := range n {
		size := r.u32()
		b := r.bytes(int(size))
		if r.err != nil {
			return nil, fmt.Errorf("function body %d: %w", i, r.err)
		}
		var err error
		body, err = c.body(body[:0], b, sigs[i])
		if err != nil {
			return nil, fmt.Errorf("function body %d: %w", i, err)
		}
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	if r.pos != len(r.b) {
		return nil, errors.New("trailing bytes")
	}
	return out, nil
}

// blockType returns the encoded block type of a block with no parameters
// and the results of s, adding a type for it if it needs one.
func (c *codeRewrite) blockType(s sig) []byte {
	switch s.nresults {
	case 0:
		return []byte{0x40}
	case 1:
		return s.results
	}
	key := string(s.results)
	idx, ok := c.blockTypes[key]
	if !ok {
		idx = c.ntypes + uint32(len(c.newTypes))
		t := appendU32([]byte{0x60, 0x00}, s.nresults)
		c.newTypes = append(c.newTypes, append(t, s.results...))
		c.blockTypes[key] = idx
	}
	return appendS32(nil, int32(idx))
}

// stackEntry is the stack check at the entry of a function whose frame is
// charged w, with the global stack and the limit:
//
//	global.get $stack  i32.const w  i32.add  global.set $stack
//	global.get $stack  i32.const limit  i32.gt_u
//	if  unreachable  end
func stackEntry(stack, w, limit uint32) []byte {
	b := appendU32([]byte{0x23}, stack)
	b = appendS32(append(b, 0x41), int32(w))
	b = appendU32(append(b, 0x6a, 0x24), stack)
	b = appendU32(append(b, 0x23), stack)
	b = appendS32(append(b, 0x41), int32(limit))
	return append(b, 0x4b, 0x04, 0x40, 0x00, 0x0b)
}

// stackExit gives back what stackEntry charged:
//
//	global.get $stack  i32.const w  i32.sub  global.set $stack
func stackExit(stack, w uint32) []byte {
	b := appendU32([]byte{0x23}, stack)
	b = appendS32(append(b, 0x41), int32(w))
	return appendU32(append(b, 0x6b, 0x24), stack)
}

// maxLocals bounds a function's locals (wazero's own limit is lower).
const maxLocals = 1 << 20

// body appends the rewritten function body b, of a function of signature
// sg, to out. With Interrupt it adds an i32 local, the loop checks'
// counter.
func (c *codeRewrite) body(out, b []byte, sg sig) ([]byte, error) {
	r := &reader{b: b}
	groups := r.u32()
	start := r.pos
	locals := uint64(sg.params)
	for range groups {
		locals += uint64(r.u32())
		r.valType()
		if r.err != nil {
			return nil, fmt.Errorf("locals: %w", r.err)
		}
	}
	if r.pos >= len(b) {
		return nil, errors.New("empty body")
	}
	if locals >= maxLocals {
		return nil, errors.New("too many locals")
	}
	var loop, exit, wrapHead, wrapCheck, wrapTail, countCheck, countTail []byte
	if c.o.Interrupt {
		loop = loopCode(c.flag, uint32(locals), c.tickFunc)
		wrapHead, wrapCheck, wrapTail = wrapCode(c.flag, uint32(locals), c.tickFunc)
		countCheck, countTail = countCode(c.flag, c.count, c.tickFunc)
		out = appendU32(out, groups+1)
		out = append(out, b[start:r.pos]...)
		out = append(out, 0x01, 0x7f) // one i32: the counter
	} else {
		out = append(out, b[:r.pos]...)
	}
	if c.o.StackLimit > 0 {
		w := uint32(FrameEstimate(locals))
		out = append(out, stackEntry(c.stack, w, c.o.StackLimit)...)
		exit = stackExit(c.stack, w)
	}
	if c.o.Interrupt && !entersCountedLoop(b[r.pos:]) {
		out = append(out, c.entry...)
	}
	if exit != nil {
		// The body runs in a block: a branch to the function's label
		// (br, br_if, br_table) now leaves the block, and the exit code
		// after it runs.
		out = append(out, 0x02)
		out = append(out, c.blockType(sg)...)
	}
	from := r.pos // bytes copied up to here
	depth := 1    // the function's own block
	// With ThreadJumps: the open blocks, loops and ifs inside the
	// function (frames), the dispatch blocks still to open (pending, of
	// the latest dispatch loop) and the two instructions before this one.
	var frames []frame
	var pending, pendingLoop int
	var prev, prev2 instr
	push := func(f frame) {
		f.cum = f.extra
		if n := len(frames); n > 0 {
			f.cum += frames[n-1].cum
		}
		frames = append(frames, f)
	}
	// shift is what the labels added around wrapped loops between a
	// branch here and the target of its label l add to l.
	shift := func(l uint32) uint32 {
		n := len(frames)
		if n == 0 {
			return 0
		}
		li := n - 1 - int(l)
		switch {
		case li < 0:
			return uint32(frames[n-1].cum)
		case li >= n:
			return 0
		}
		return uint32(frames[n-1].cum - frames[li].cum)
	}
	for depth > 0 {
		if r.pos >= len(b) {
			return nil, errors.New("body ends inside a block")
		}
		at := r.pos
		op := r.byte()
		cur := instr{op: op}
		if exit != nil && (op == 0x0f || op == 0x12 || op == 0x13) {
			// return, return_call, return_call_indirect: the frame ends
			// here, not after the added block.
			out = append(out, b[from:at]...)
			out = append(out, exit...)
			from = at
		}
		if (op == 0x06 || op == 0x1f || op == 0x09 || op == 0x18) && len(frames) > 0 && frames[len(frames)-1].cum > 0 {
			// (Their labels are not renumbered.)
			return nil, fmt.Errorf("exception instruction %#x inside a loop", op)
		}
		switch op {
		case 0x02, 0x04: // block, if
			r.blockType()
			depth++
			f := frame{loop: -1}
			if op == 0x02 && pending > 0 {
				pending--
				f = frame{loop: pendingLoop, j: pending}
			}
			push(f)
		case 0x03: // loop
			bt := r.pos
			r.blockType()
			depth++
			f := frame{loop: -1}
			var d *dispatch
			if r.err == nil && r.pos == bt+1 && b[bt] == 0x40 {
				d = dispatchAt(b[r.pos:])
			}
			if c.o.ThreadJumps && d != nil {
				f.d = d
				pending, pendingLoop = d.blocks, len(frames)
			}
			if wt, ok := wrapType(b[bt:r.pos]); ok && r.err == nil && loop != nil {
				f.extra, f.wrap, f.typed = 3, true, wt[0] != 0x40
				out = append(out, b[from:at]...)
				out = append(out, 0x02)
				out = append(out, wt...)
				out = append(out, wrapHead...)
				out = append(out, b[at:r.pos]...)
				if d != nil {
					// (See countCode.)
					out = append(out, countCheck...)
					f.counted = true
				} else {
					out = append(out, wrapCheck...)
				}
				from = r.pos
			} else if r.err == nil && loop != nil {
				out = append(out, b[from:r.pos]...)
				out = append(out, loop...)
				from = r.pos
			}
			push(f)
		case 0x06: // try (legacy exceptions)
			r.blockType()
			depth++
			push(frame{loop: -1})
		case 0x1f: // try_table
			r.blockType()
			for range r.u32() {
				switch kind := r.byte(); kind {
				case 0x00, 0x01: // catch, catch_ref: tag, label
					r.u32()
					r.u32()
				case 0x02, 0x03: // catch_all, catch_all_ref: label
					r.u32()
				default:
					return nil, fmt.Errorf("unknown catch kind %#x", kind)
				}
				if r.err != nil {
					break
				}
			}
			depth++
			push(frame{loop: -1})
		case 0x0b: // end
			depth--
			if len(frames) > 0 {
				f := frames[len(frames)-1]
				frames = frames[:len(frames)-1]
				if f.wrap {
					out = append(out, b[from:r.pos]...)
					if f.counted {
						out = append(out, countTail...)
					} else {
						out = append(out, wrapTail...)
					}
					if f.typed {
						out = append(out, 0x00)
					}
					out = append(out, 0x0b)
					from = r.pos
				}
			}
		case 0x18: // delegate (ends a legacy try)
			r.u32()
			depth--
			if len(frames) > 0 {
				frames = frames[:len(frames)-1]
			}
		case 0x0c: // br
			l := r.u32()
			if nl, ok := thread(frames, l, prev, prev2); ok && r.err == nil {
				out = append(out, b[from:at]...)
				out = appendU32(append(out, 0x0c), nl+shift(nl))
				from = r.pos
			} else if d := shift(l); d > 0 && r.err == nil {
				out = append(out, b[from:at]...)
				out = appendU32(append(out, 0x0c), l+d)
				from = r.pos
			}
		case 0x0d: // br_if
			l := r.u32()
			if d := shift(l); d > 0 && r.err == nil {
				out = append(out, b[from:at]...)
				out = appendU32(append(out, 0x0d), l+d)
				from = r.pos
			}
		case 0x21: // local.set
			cur.arg = r.u32()
		case 0x41: // i32.const
			cur.val = r.s32()
			cur.ok = r.err == nil
		case 0x00, 0x01, 0x05, 0x0f, 0x19, 0x1a, 0x1b, 0x0a, 0xd1: // no immediates
		case 0x07, 0x08, 0x09, 0x10, 0x12, 0x20, 0x22, 0x23, 0x24, 0x25, 0x26, 0xd2:
			r.u32() // one index
		case 0x0e: // br_table
			n := r.u32()
			var labels []uint32
			moved := false
			for range n + 1 {
				l := r.u32()
				if r.err != nil {
					break
				}
				d := shift(l)
				moved = moved || d > 0
				labels = append(labels, l+d)
			}
			if moved && r.err == nil {
				out = append(out, b[from:at]...)
				out = appendU32(append(out, 0x0e), n)
				for _, l := range labels {
					out = appendU32(out, l)
				}
				from = r.pos
			}
		case 0x11, 0x13: // call_indirect, return_call_indirect: type, table
			r.u32()
			r.u32()
		case 0x1c: // select with types
			for range r.u32() {
				r.valType()
				if r.err != nil {
					break
				}
			}
		case 0x3f, 0x40: // memory.size, memory.grow
			r.u32()
		case 0x42:
			r.leb(10)
		case 0x43:
			r.bytes(4)
		case 0x44:
			r.bytes(8)
		case 0xd0: // ref.null
			r.heapType()
		case 0xfc:
			r.prefixedFC()
		case 0xfd:
			r.prefixedFD()
		case 0xfe:
			r.prefixedFE()
		default:
			switch {
			case op >= 0x28 && op <= 0x3e: // loads and stores
				r.memArg()
			case op >= 0x45 && op <= 0xc4: // numeric
			default:
				return nil, fmt.Errorf("unknown opcode %#x at offset %d", op, r.pos-1)
			}
		}
		if r.err != nil {
			return nil, fmt.Errorf("opcode %#x: %w", op, r.err)
		}
		prev2, prev = prev, cur
	}
	if r.pos != len(b) {
		return nil, errors.New("bytes after the body's end")
	}
	c.dataRefs = c.dataRefs || r.dataRefs
	out = append(out, b[from:]...) // up to the end (of the added block, if any)
	if exit != nil {
		out = append(out, exit...)
		out = append(out, 0x0b)
	}
	return out, nil
}

// reader reads the binary format; the first error sticks.
type reader struct {
	b        []byte
	pos      int
	err      error
	dataRefs bool // read a memory.init or data.drop
}

var errTruncated = errors.New("truncated")

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.pos = len(r.b)
}

func (r *reader) byte() byte {
	if r.err != nil || r.pos >= len(r.b) {
		r.fail(errTruncated)
		return 0
	}
	c := r.b[r.pos]
	r.pos++
	return c
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b)-r.pos {
		r.fail(errTruncated)
		return nil
	}
	b := r.b[r.pos : r.pos+n]
	r.pos += n
	return b
}

// leb skips a LEB128 number of at most max bytes.
func (r *reader) leb(max int) {
	for i := 0; i < max; i++ {
		if r.byte()&0x80 == 0 {
			return
		}
	}
	r.fail(errors.New("LEB128 number too long"))
}

// u32 reads an unsigned LEB128 number of at most 32 bits.
func (r *reader) u32() uint32 {
	var v uint32
	for i := 0; i < 5; i++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if i == 4 && c > 0x0f {
			r.fail(errors.New("u32 LEB128 overflow"))
			return 0
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail(errors.New("LEB128 number too long"))
	return 0
}

func (r *reader) name() (string, bool) {
	n := r.u32()
	b := r.bytes(int(n))
	return string(b), r.err == nil
}

// valType reads a value type: a number, vector or reference type.
func (r *reader) valType() {
	switch c := r.byte(); c {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
	case 0x63, 0x64: // (ref null ht), (ref ht)
		r.heapType()
	default:
		r.fail(fmt.Errorf("unknown value type %#x", c))
	}
}

func (r *reader) refType() {
	switch c := r.byte(); c {
	case 0x70, 0x6f:
	case 0x63, 0x64:
		r.heapType()
	default:
		r.fail(fmt.Errorf("unknown reference type %#x", c))
	}
}

// heapType reads a heap type: an abstract type byte or a type index (s33).
func (r *reader) heapType() { r.leb(5) }

// blockType reads a block type: empty, a value type or a type index (s33).
func (r *reader) blockType() {
	if r.pos >= len(r.b) {
		r.fail(errTruncated)
		return
	}
	switch c := r.b[r.pos]; {
	case c == 0x40:
		r.pos++
	case c >= 0x40 && c < 0x80: // a one-byte negative s33: a value type
		r.valType()
	default:
		r.leb(5) // type index
	}
}

func (r *reader) limits() {
	flags := r.byte()
	if flags > 0x07 {
		r.fail(fmt.Errorf("unknown limits flags %#x", flags))
		return
	}
	r.leb(10)
	if flags&1 != 0 {
		r.leb(10)
	}
}

// memArg reads alignment (with a memory index when bit 6 is set) and offset.
func (r *reader) memArg() {
	align := r.u32()
	if align&0x40 != 0 {
		r.u32()
	}
	r.leb(10)
}

func (r *reader) prefixedFC() {
	switch sub := r.u32(); sub {
	case 0, 1, 2, 3, 4, 5, 6, 7: // saturating truncations
	case 8: // memory.init data, mem
		r.u32()
		r.u32()
		r.dataRefs = true
	case 9: // data.drop
		r.u32()
		r.dataRefs = true
	case 13, 15, 16, 17: // elem.drop, table.grow/size/fill
		r.u32()
	case 10, 12, 14: // memory.copy, table.init, table.copy
		r.u32()
		r.u32()
	case 11: // memory.fill
		r.u32()
	default:
		r.fail(fmt.Errorf("unknown 0xfc opcode %d", sub))
	}
}

func (r *reader) prefixedFD() {
	switch sub := r.u32(); {
	case sub <= 11 || sub == 92 || sub == 93: // v128 loads, stores, load zero
		r.memArg()
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 21 && sub <= 34: // extract/replace lane
		r.byte()
	case sub >= 84 && sub <= 91: // load/store lane
		r.memArg()
		r.byte()
	case sub <= 275: // no immediates (relaxed SIMD included)
	default:
		r.fail(fmt.Errorf("unknown 0xfd opcode %d", sub))
	}
}

func (r *reader) prefixedFE() {
	switch sub := r.u32(); {
	case sub == 3: // atomic.fence
		r.byte()
	case sub <= 0x4e:
		r.memArg()
	default:
		r.fail(fmt.Errorf("unknown 0xfe opcode %d", sub))
	}
}

// appendS32 appends v as signed LEB128.
func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// appendU32 appends v as unsigned LEB128.
func appendU32(b []byte, v uint32) []byte {
	return binary.AppendUvarint(b, uint64(v))
}

// A dispatch loop is the shape Go's wasm backend gives every function with
// jumps between its basic blocks:
//
//	loop                     (no parameters, no results)
//	  block ... block        (M blocks, no results)
//	    local.get $pc
//	    br_table t0 t1 ... default
//	  end  (code of resume point 0)
//	  end  (code of resume point 1)
//	  ...
//
// and a jump to the basic block at pc P is `i32.const P  local.set $pc
// br $loop`: through the loop's header and its br_table, it lands at the
// end of dispatch block j = t_P (counting from the innermost, 0). When
// that block is still open where the branch is (j is after the branch's
// own resume point: a forward jump), `br` to the block lands at the same
// place with the same locals ($pc is set all the same) and the same empty
// operand stack, without the header and the indirect jump of the
// br_table; the interrupt check at the loop header is not needed there,
// as a forward jump closes no cycle (backward jumps keep going through the
// header).
type dispatch struct {
	local   uint32
	targets []uint32 // the br_table's labels, then its default
	blocks  int      // the dispatch blocks
}

// frame is a block, loop, if or try open in the function body being
// rewritten. A dispatch loop has d; dispatch block j of the loop at
// frames[loop] has loop >= 0 (else -1).
type frame struct {
	d    *dispatch
	loop int
	j    int
	// wrap: a loop wrapped by the rewrite in three added blocks (extra
	// labels around it); typed: with a result; cum: the extra labels of
	// this frame and those enclosing it.
	wrap, typed bool
	// counted: a wrapped loop whose check counts down the global countdown
	// (countCode), not the function's counter.
	counted    bool
	extra, cum int
}

// wrapType returns the block type of the outermost block added around a
// loop of block type bt, when the loop can be wrapped: no parameters, no
// or one result.
func wrapType(bt []byte) ([]byte, bool) {
	if len(bt) != 1 {
		return nil, false
	}
	switch bt[0] {
	case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		return bt, true
	}
	return nil, false
}

// instr is what thread needs of an instruction: its opcode and its
// local index (local.set) or value (i32.const, ok when read).
type instr struct {
	op  byte
	arg uint32
	val int32
	ok  bool
}

// dispatchAt returns the dispatch loop whose body starts at b (right
// after the loop's block type), or nil.
func dispatchAt(b []byte) *dispatch {
	r := &reader{b: b}
	m := 0
	for r.pos+1 < len(b) && b[r.pos] == 0x02 && b[r.pos+1] == 0x40 {
		r.pos += 2
		m++
	}
	if m == 0 || r.byte() != 0x20 {
		return nil
	}
	d := &dispatch{local: r.u32(), blocks: m}
	if r.byte() != 0x0e {
		return nil
	}
	n := r.u32()
	if r.err != nil || uint64(n) >= uint64(len(b)) {
		return nil
	}
	d.targets = make([]uint32, 0, n+1)
	for range n + 1 {
		t := r.u32()
		if t >= uint32(m) {
			return nil // a label outside the dispatch blocks
		}
		d.targets = append(d.targets, t)
	}
	if r.err != nil || r.byte() != 0x0b {
		return nil
	}
	return d
}

// thread returns the label of a `br l` at the end of frames, preceded by
// prev2 and prev, that leads to the same place as l without passing a
// dispatch loop's header, if there is one (see dispatch).
func thread(frames []frame, l uint32, prev, prev2 instr) (uint32, bool) {
	li := len(frames) - 1 - int(l)
	if li < 0 || frames[li].d == nil {
		return 0, false
	}
	d := frames[li].d
	if prev.op != 0x21 || prev.arg != d.local || prev2.op != 0x41 || !prev2.ok || prev2.val < 0 {
		return 0, false
	}
	k := int(prev2.val)
	t := d.targets[len(d.targets)-1]
	if k < len(d.targets)-1 {
		t = d.targets[k]
	}
	bi := li + d.blocks - int(t)
	if bi >= len(frames) || frames[bi].loop != li || frames[bi].j != int(t) {
		return 0, false // that block has ended: a backward jump
	}
	return uint32(len(frames) - 1 - bi), true
}
