package lua

import (
	"strings"

	"github.com/yuin/gopher-lua/ast"
)

// keepsNothing reports whether the body of a transform (code without a
// transform function, run once a record with the locals rec and meta) can
// leave nothing of a call reachable from the next one: it defines no
// function (no closure, no upvalue), assigns no global, and names no global
// but the functions and values of safeGlobals, which keep none of their
// arguments. Every table such a body can reach is then one it made, or
// decoded from its record, during the call; so is every string, and what
// it returns or emits is encoded before the call ends.
//
// The host uses it to hand such a body the record's own bytes without a
// copy (a lines record as a string, a JSON record's lazy view on the
// input's buffer), which the engine reuses once the batch is written, and
// to reuse a record's lazy view for the next record. Any other code gets
// copies (see vm.SetRecord). The check is syntactic and conservative: a
// body it refuses still runs, with the copies.
func keepsNothing(chunk []ast.Stmt) bool {
	c := retainCheck{scopes: []map[string]bool{{"rec": true, "meta": true}}}
	return c.block(chunk)
}

// safeGlobals are the globals a body that keeps nothing may name, by their
// path from the globals table: functions that keep none of their arguments
// (a table they change, table.insert's, is one the body reached, so one
// of the call) and immutable values. A library table itself is not one:
// the body may read string.upper, never string (it could store into it).
// print and pipe.log are not: a log handler may keep the strings it is
// given.
var safeGlobals = map[string]bool{}

func init() {
	for _, p := range []string{
		"assert", "error", "ipairs", "next", "pairs", "select", "tonumber", "tostring", "type",
		"unpack", "rawequal", "rawget", "emit",
		"pipe.null", "pipe.now", "pipe.split", "pipe.trim", "pipe.startswith", "pipe.endswith",
		"pipe.match", "pipe.array", "pipe.json.encode", "pipe.json.decode",
		"table.concat", "table.insert", "table.remove", "table.sort", "table.maxn", "table.getn",
	} {
		safeGlobals[p] = true
	}
	for _, f := range []string{"byte", "char", "find", "format", "gmatch", "gsub", "len", "lower",
		"match", "rep", "reverse", "sub", "upper"} {
		safeGlobals["string."+f] = true
	}
	for _, f := range []string{"abs", "acos", "asin", "atan", "atan2", "ceil", "cos", "cosh", "deg",
		"exp", "floor", "fmod", "frexp", "huge", "ldexp", "log", "log10", "max", "min", "mod", "modf", "pi",
		"pow", "rad", "random", "randomseed", "sin", "sinh", "sqrt", "tan", "tanh"} {
		safeGlobals["math."+f] = true
	}
}

// retainCheck walks a body with its scopes of local names.
type retainCheck struct {
	scopes []map[string]bool
}

func (c *retainCheck) local(name string) bool {
	for i := len(c.scopes) - 1; i >= 0; i-- {
		if c.scopes[i][name] {
			return true
		}
	}
	return false
}

func (c *retainCheck) declare(names ...string) {
	s := c.scopes[len(c.scopes)-1]
	for _, n := range names {
		s[n] = true
	}
}

func (c *retainCheck) push() { c.scopes = append(c.scopes, map[string]bool{}) }
func (c *retainCheck) pop()  { c.scopes = c.scopes[:len(c.scopes)-1] }

// block checks statements in a scope of their own.
func (c *retainCheck) block(stmts []ast.Stmt) bool {
	c.push()
	defer c.pop()
	return c.stmts(stmts)
}

func (c *retainCheck) stmts(stmts []ast.Stmt) bool {
	for _, st := range stmts {
		if !c.stmt(st) {
			return false
		}
	}
	return true
}

func (c *retainCheck) stmt(st ast.Stmt) bool {
	switch s := st.(type) {
	case *ast.LocalAssignStmt:
		if !c.exprs(s.Exprs) { // the names are in scope after the values
			return false
		}
		c.declare(s.Names...)
		return true
	case *ast.AssignStmt:
		for _, l := range s.Lhs {
			switch t := l.(type) {
			case *ast.IdentExpr:
				if !c.local(t.Value) {
					return false // a global
				}
			case *ast.AttrGetExpr:
				// A field of a value of the call (a global's path is
				// read-only: globalPath refuses it as a target).
				if _, global := c.globalPath(t); global || !c.expr(t.Object) || !c.expr(t.Key) {
					return false
				}
			default:
				return false
			}
		}
		return c.exprs(s.Rhs)
	case *ast.FuncCallStmt:
		return c.expr(s.Expr)
	case *ast.DoBlockStmt:
		return c.block(s.Stmts)
	case *ast.WhileStmt:
		return c.expr(s.Condition) && c.block(s.Stmts)
	case *ast.RepeatStmt:
		// The condition sees the body's locals.
		c.push()
		defer c.pop()
		return c.stmts(s.Stmts) && c.expr(s.Condition)
	case *ast.IfStmt:
		return c.expr(s.Condition) && c.block(s.Then) && c.block(s.Else)
	case *ast.NumberForStmt:
		if !c.expr(s.Init) || !c.expr(s.Limit) || (s.Step != nil && !c.expr(s.Step)) {
			return false
		}
		c.push()
		defer c.pop()
		c.declare(s.Name)
		return c.stmts(s.Stmts)
	case *ast.GenericForStmt:
		if !c.exprs(s.Exprs) {
			return false
		}
		c.push()
		defer c.pop()
		c.declare(s.Names...)
		return c.stmts(s.Stmts)
	case *ast.ReturnStmt:
		return c.exprs(s.Exprs)
	case *ast.BreakStmt, *ast.LabelStmt, *ast.GotoStmt:
		return true
	}
	return false // function definitions, and anything unknown
}

func (c *retainCheck) exprs(es []ast.Expr) bool {
	for _, e := range es {
		if !c.expr(e) {
			return false
		}
	}
	return true
}

func (c *retainCheck) expr(e ast.Expr) bool {
	switch x := e.(type) {
	case nil:
		return true
	case *ast.TrueExpr, *ast.FalseExpr, *ast.NilExpr, *ast.NumberExpr, *ast.StringExpr, *ast.Comma3Expr:
		return true
	case *ast.IdentExpr:
		return c.local(x.Value) || safeGlobals[x.Value]
	case *ast.AttrGetExpr:
		if path, global := c.globalPath(x); global {
			return safeGlobals[path]
		}
		return c.expr(x.Object) && c.expr(x.Key)
	case *ast.TableExpr:
		for _, f := range x.Fields {
			if !c.expr(f.Key) || !c.expr(f.Value) {
				return false
			}
		}
		return true
	case *ast.FuncCallExpr:
		// Any function a body can reach keeps nothing: the safe globals,
		// string methods, and the iterators they return.
		return c.expr(x.Func) && c.expr(x.Receiver) && c.exprs(x.Args)
	case *ast.LogicalOpExpr:
		return c.expr(x.Lhs) && c.expr(x.Rhs)
	case *ast.RelationalOpExpr:
		return c.expr(x.Lhs) && c.expr(x.Rhs)
	case *ast.StringConcatOpExpr:
		return c.expr(x.Lhs) && c.expr(x.Rhs)
	case *ast.ArithmeticOpExpr:
		return c.expr(x.Lhs) && c.expr(x.Rhs)
	case *ast.UnaryMinusOpExpr:
		return c.expr(x.Expr)
	case *ast.UnaryNotOpExpr:
		return c.expr(x.Expr)
	case *ast.UnaryLenOpExpr:
		return c.expr(x.Expr)
	}
	return false // a function expression, and anything unknown
}

// globalPath returns the path of a field read on a global (string.upper,
// pipe.json.encode: constant string keys down from a global name); global
// is true when e is rooted at a global at all, path "" when a key on the
// way is not a constant string.
func (c *retainCheck) globalPath(e *ast.AttrGetExpr) (path string, global bool) {
	var keys []string
	var cur ast.Expr = e
	for {
		switch x := cur.(type) {
		case *ast.AttrGetExpr:
			k, ok := x.Key.(*ast.StringExpr)
			if !ok {
				// A computed key: the path is unknown, but still rooted
				// at a global if the object is.
				keys = nil
				cur = x.Object
				for {
					a, ok := cur.(*ast.AttrGetExpr)
					if !ok {
						break
					}
					cur = a.Object
				}
				if id, ok := cur.(*ast.IdentExpr); ok && !c.local(id.Value) {
					return "", true
				}
				return "", false
			}
			keys = append(keys, k.Value)
			cur = x.Object
		case *ast.IdentExpr:
			if c.local(x.Value) {
				return "", false
			}
			var b strings.Builder
			b.WriteString(x.Value)
			for i := len(keys) - 1; i >= 0; i-- {
				b.WriteByte('.')
				b.WriteString(keys[i])
			}
			return b.String(), true
		default:
			return "", false
		}
	}
}
