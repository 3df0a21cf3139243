package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Error is a configuration error that names the file, line and key.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "%s: ", e.Key)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads, expands, strictly decodes and validates the config at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot read config: %v", errors.Unwrap(err))}
	}
	cfg, err := Parse(data, path, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// Parse decodes YAML config text. lookup resolves ${NAME} references.
func Parse(data []byte, path string, lookup func(string) (string, bool)) (*Config, error) {
	var root yaml.Node
	data, bare := quoteBareRefs(data)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if err.Error() == "EOF" {
			return nil, &Error{File: path, Msg: "config is empty"}
		}
		return nil, &Error{File: path, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if err := expandEnv(&root, path, lookup, bare); err != nil {
		return nil, err
	}
	if err := checkKnown(&root, reflect.TypeOf(Config{}), "", path); err != nil {
		return nil, err
	}
	cfg := &Config{path: path}
	if err := root.Decode(cfg); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			return nil, &Error{File: path, Msg: strings.TrimPrefix(te.Errors[0], "yaml: ")}
		}
		return nil, &Error{File: path, Msg: err.Error()}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandEnv replaces ${NAME} and ${NAME:-default} in scalar values. It works on
// the parsed tree, so a value holding YAML syntax (a '#' in a password) stays
// one value. An unset variable without a default is an error naming it.
func expandEnv(n *yaml.Node, path string, lookup func(string) (string, bool), bare map[position]bool) error {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		var missing string
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			m := envRef.FindStringSubmatch(ref)
			if v, ok := lookup(m[1]); ok {
				return v
			}
			if m[2] != "" {
				return m[3]
			}
			if missing == "" {
				missing = m[1]
			}
			return ""
		})
		if missing != "" {
			return &Error{File: path, Line: n.Line, Msg: fmt.Sprintf("environment variable %s is not set (use ${%s:-default} for an optional value)", missing, missing)}
		}
		if bare[position{n.Line, n.Column}] {
			// A bare reference: type the value by what the variable holds.
			// Numbers and booleans keep their type; anything else
			// (including "null" or "~" as a password) stays a string.
			n.Style, n.Tag = 0, ""
			switch t := n.ShortTag(); t {
			case "!!int", "!!float", "!!bool":
				n.Tag = t
			default:
				n.Tag, n.Style = "!!str", yaml.DoubleQuotedStyle
			}
		} else if n.Tag == "!!null" || n.Tag == "" {
			n.Tag = "!!str"
		}
	}
	for _, c := range n.Content {
		if err := expandEnv(c, path, lookup, bare); err != nil {
			return err
		}
	}
	return nil
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// checkKnown walks the YAML tree alongside the Go type and reports the first
// key that has no field, with its line.
func checkKnown(n *yaml.Node, t reflect.Type, prefix, path string) error {
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			if err := checkKnown(c, t, prefix, path); err != nil {
				return err
			}
		}
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // the decoder reports the type error
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			fields[tag] = f.Type
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			key := joinKey(prefix, k.Value)
			if !ok {
				return &Error{File: path, Line: k.Line, Key: key, Msg: "unknown key" + suggest(k.Value, fields)}
			}
			if err := checkKnown(v, ft, key, path); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for i, c := range n.Content {
			if err := checkKnown(c, t.Elem(), fmt.Sprintf("%s[%d]", prefix, i), path); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkKnown(n.Content[i+1], t.Elem(), joinKey(prefix, n.Content[i].Value), path); err != nil {
				return err
			}
		}
	}
	return nil
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func suggest(k string, fields map[string]reflect.Type) string {
	var names []string
	for name := range fields {
		if strings.Contains(name, k) || strings.Contains(k, name) || editDistance(name, k) <= 2 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", names[0])
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// UnmarshalYAML parses "10m", "1h30m" or a number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration like 10m", n.Line)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		var secs int64
		if _, err2 := fmt.Sscanf(n.Value, "%d", &secs); err2 == nil && fmt.Sprint(secs) == n.Value {
			v = time.Duration(secs) * time.Second
		} else {
			return fmt.Errorf("line %d: %q is not a duration (like 30s, 10m, 1h)", n.Line, n.Value)
		}
	}
	if v < 0 {
		return fmt.Errorf("line %d: duration %q is negative", n.Line, n.Value)
	}
	d.Duration = v
	return nil
}

// UnmarshalYAML accepts a string or a list of strings.
func (s *StringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = StringList{n.Value}
		return nil
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		*s = l
		return nil
	}
	return fmt.Errorf("line %d: expected a string or a list of strings", n.Line)
}
