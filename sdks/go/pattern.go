package thrun

import (
	"fmt"
	"strings"

	"github.com/thrun-dev/thrun/sdks/go/transport"
)

// IsEventName reports whether name is a valid event name: lowercase a-z and 0-9 words joined by
// '.', '_' or '-', at most 255 characters (schemas/envelope.schema.json#/$defs/eventName).
func IsEventName(name string) bool { return transport.IsName(name) }

// IsEventPattern reports whether pattern is a valid subscription pattern: event-name segments split
// on '.', where '*' stands for exactly one segment and '#' for zero or more.
func IsEventPattern(pattern string) bool {
	if len(pattern) == 0 || len(pattern) > transport.MaxNameLength {
		return false
	}
	for _, segment := range strings.Split(pattern, ".") {
		if segment != "*" && segment != "#" && !transport.IsName(segment) {
			return false
		}
	}
	return true
}

func isWildcardPattern(pattern string) bool {
	for _, segment := range strings.Split(pattern, ".") {
		if segment == "*" || segment == "#" {
			return true
		}
	}
	return false
}

// MatchEventPattern reports whether eventName matches pattern ("order.*" matches "order.paid";
// "order.#" matches "order" and "order.a.b"). Matching walks segments: no regular expression is
// ever built from input.
func MatchEventPattern(pattern, eventName string) bool {
	if !isWildcardPattern(pattern) {
		return pattern == eventName
	}
	return matchSegments(strings.Split(pattern, "."), strings.Split(eventName, "."))
}

func matchSegments(pattern, name []string) bool {
	p, n := 0, 0
	for p < len(pattern) {
		if pattern[p] == "#" {
			for p+1 < len(pattern) && pattern[p+1] == "#" { // consecutive '#' are one
				p++
			}
			if p == len(pattern)-1 {
				return true
			}
			for skip := n; skip <= len(name); skip++ {
				if matchSegments(pattern[p+1:], name[skip:]) {
					return true
				}
			}
			return false
		}
		if n >= len(name) || (pattern[p] != "*" && pattern[p] != name[n]) {
			return false
		}
		p++
		n++
	}
	return n == len(name)
}

// patternsOverlap reports whether some event name matches both patterns (given as segments).
func patternsOverlap(a, b []string) bool {
	failed := map[[2]int]bool{} // memo of failed (i, j) pairs
	var walk func(i, j int) bool
	walk = func(i, j int) bool {
		if i == len(a) && j == len(b) {
			return true
		}
		if failed[[2]int{i, j}] {
			return false
		}
		var result bool
		switch {
		case i < len(a) && a[i] == "#":
			result = walk(i+1, j) || (j < len(b) && walk(i, j+1))
		case j < len(b) && b[j] == "#":
			result = walk(i, j+1) || (i < len(a) && walk(i+1, j))
		case i == len(a) || j == len(b):
			result = false
		default:
			result = (a[i] == "*" || b[j] == "*" || a[i] == b[j]) && walk(i+1, j+1)
		}
		if !result {
			failed[[2]int{i, j}] = true
		}
		return result
	}
	return walk(0, 0)
}

// patternCovers reports whether every event name matching inner also matches outer.
func patternCovers(outer, inner []string) bool {
	failed := map[[2]int]bool{}
	var walk func(i, j int) bool
	walk = func(i, j int) bool {
		if i == len(outer) && j == len(inner) {
			return true
		}
		if failed[[2]int{i, j}] {
			return false
		}
		var result bool
		switch {
		case i < len(outer) && outer[i] == "#":
			result = walk(i+1, j) || (j < len(inner) && walk(i, j+1))
		case i == len(outer) || j == len(inner):
			result = false
		case inner[j] == "#":
			result = false // only a '#' can stand for any number of segments
		case inner[j] == "*":
			result = outer[i] == "*" && walk(i+1, j+1)
		default:
			result = (outer[i] == "*" || outer[i] == inner[j]) && walk(i+1, j+1)
		}
		if !result {
			failed[[2]int{i, j}] = true
		}
		return result
	}
	return walk(0, 0)
}

// Route sends the events matching Pattern to Queue.
type Route struct {
	Pattern string
	Queue   string
}

// router decides which queue an event goes to, and which queues a listener needs consumed. Routes
// are tried in order; the first match wins; an unmatched event goes to the default queue.
type router struct {
	defaultQueue string
	routes       []Route
}

func newRouter(defaultQueue string, routes []Route) (*router, error) {
	if err := transport.ValidateQueueName(defaultQueue); err != nil {
		return nil, err
	}
	for _, r := range routes {
		if !IsEventPattern(r.Pattern) {
			return nil, fmt.Errorf("[thrun:go] invalid route pattern %q", r.Pattern)
		}
		if err := transport.ValidateQueueName(r.Queue); err != nil {
			return nil, err
		}
	}
	return &router{defaultQueue: defaultQueue, routes: routes}, nil
}

func (r *router) queueFor(event string) string {
	for _, route := range r.routes {
		if MatchEventPattern(route.Pattern, event) {
			return route.Queue
		}
	}
	return r.defaultQueue
}

// queuesFor lists every queue where an event matching pattern may be dispatched: a route when some
// name matches both, the default queue unless an earlier route claims every name of the pattern.
func (r *router) queuesFor(pattern string) []string {
	if !isWildcardPattern(pattern) {
		return []string{r.queueFor(pattern)}
	}
	segments := strings.Split(pattern, ".")
	var queues []string
	add := func(q string) {
		for _, seen := range queues {
			if seen == q {
				return
			}
		}
		queues = append(queues, q)
	}
	for _, route := range r.routes {
		routeSegments := strings.Split(route.Pattern, ".")
		if !patternsOverlap(routeSegments, segments) {
			continue
		}
		add(route.Queue)
		if patternCovers(routeSegments, segments) {
			return queues
		}
	}
	add(r.defaultQueue)
	return queues
}
