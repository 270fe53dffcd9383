// Command crash is berth's crashing test container: it prints a line and
// exits with $EXIT_CODE (default 1).
package main

import (
	"fmt"
	"os"
	"strconv"
)

func main() {
	code := 1
	if v, err := strconv.Atoi(os.Getenv("EXIT_CODE")); err == nil {
		code = v
	}
	fmt.Printf("crashing with exit code %d\n", code)
	os.Exit(code)
}
