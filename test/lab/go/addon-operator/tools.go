//go:build tools

// Pins github.com/flant/addon-operator for the lab (test/lab/tools.ts builds cmd/addon-operator
// from this module; docs/adr/0065).
package tools

import _ "github.com/flant/addon-operator/cmd/addon-operator"
