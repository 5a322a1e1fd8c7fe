package linuxref

import "strings"

// Dep is one package relation of a Debian Depends field, e.g.
// "linux-image-6.1.0-56-cloud-arm64 (= 6.1.192-2)".
type Dep struct {
	Name     string
	Relation string // "", "<<", "<=", "=", ">=" or ">>"
	Version  string
	Arch     string // ":any" style qualifier without the colon, if any
}

// String formats d as it appears in a control file.
func (d Dep) String() string {
	s := d.Name
	if d.Arch != "" {
		s += ":" + d.Arch
	}
	if d.Relation != "" {
		s += " (" + d.Relation + " " + d.Version + ")"
	}
	return s
}

// ParseDepends parses a Depends field (as printed by dpkg -f DEB Depends)
// into groups of alternatives: "a (>= 1), b | c" gives [[a >= 1] [b c]].
// It is lenient: malformed relations keep the name and drop the version;
// architecture lists ("[arm64]") and build profiles ("<!nocheck>") are
// skipped. Empty alternatives are dropped.
func ParseDepends(field string) [][]Dep {
	var groups [][]Dep
	for _, g := range strings.Split(field, ",") {
		var alts []Dep
		for _, a := range strings.Split(g, "|") {
			if d, ok := parseDep(a); ok {
				alts = append(alts, d)
			}
		}
		if len(alts) > 0 {
			groups = append(groups, alts)
		}
	}
	return groups
}

func parseDep(s string) (Dep, bool) {
	s = strings.TrimSpace(s)
	var rel string
	if i := strings.IndexAny(s, "([<"); i >= 0 {
		s, rel = strings.TrimSpace(s[:i]), s[i:]
	}
	if s == "" || strings.ContainsAny(s, " \t\n)]>") {
		return Dep{}, false
	}
	d := Dep{Name: s}
	if n, arch, ok := strings.Cut(s, ":"); ok {
		if n == "" || arch == "" || strings.Contains(arch, ":") {
			return Dep{}, false
		}
		d.Name, d.Arch = n, arch
	}
	if strings.HasPrefix(rel, "(") {
		inner, _, ok := strings.Cut(rel[1:], ")")
		if !ok {
			return d, true
		}
		inner = strings.TrimSpace(inner)
		for _, op := range []string{"<<", "<=", ">=", ">>", "=", "<", ">"} {
			if v, ok := strings.CutPrefix(inner, op); ok {
				v = strings.TrimSpace(v)
				if v != "" && !strings.ContainsAny(v, " \t\n()") {
					d.Relation, d.Version = op, v
				}
				break
			}
		}
	}
	return d, true
}
