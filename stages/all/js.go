package all

import _ "github.com/pipe-dev/pipe/stages/js" // type: js (goja scripts)
