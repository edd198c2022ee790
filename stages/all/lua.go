package all

import _ "github.com/pipe-dev/pipe/stages/lua" // type: lua (gopher-lua scripts)
