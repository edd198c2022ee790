package all

import _ "github.com/pipe-dev/pipe/stages/wasm" // type: wasm (wazero modules)
