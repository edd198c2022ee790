package all

import _ "github.com/pipe-dev/pipe/stages/isolate" // isolation: process
