package envvars

import "strings"

// Expand replaces $(VAR) references in input with mapping's values, as the
// Kubernetes API documents for command, args and env values: a reference to an
// unknown variable is left as written, "$$" is an escaped "$", and any other "$"
// is kept as it is.
func Expand(input string, mapping func(string) (string, bool)) string {
	var buf strings.Builder
	checkpoint := 0
	for cursor := 0; cursor < len(input); cursor++ {
		if input[cursor] != '$' || cursor+1 >= len(input) {
			continue
		}
		buf.WriteString(input[checkpoint:cursor])
		read, isVar, advance := readReference(input[cursor+1:])
		if isVar {
			if v, ok := mapping(read); ok {
				buf.WriteString(v)
			} else {
				buf.WriteString("$(" + read + ")")
			}
		} else {
			buf.WriteString(read)
		}
		cursor += advance
		checkpoint = cursor + 1
	}
	buf.WriteString(input[checkpoint:])
	return buf.String()
}

// readReference reads what follows a "$": the variable name of a $(NAME)
// reference (isVar), or else the literal text to keep. advance is how many bytes
// after the "$" were consumed.
func readReference(input string) (read string, isVar bool, advance int) {
	switch input[0] {
	case '$':
		return "$", false, 1
	case '(':
		for i := 1; i < len(input); i++ {
			if input[i] == ')' {
				return input[1:i], true, i + 1
			}
		}
		// An unterminated reference is kept literally.
		return "$(", false, 1
	default:
		return "$" + input[:1], false, 1
	}
}

// mappingOf looks a name up in maps, the first holding it winning.
func mappingOf(maps ...map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		for _, m := range maps {
			if v, ok := m[name]; ok {
				return v, true
			}
		}
		return "", false
	}
}
