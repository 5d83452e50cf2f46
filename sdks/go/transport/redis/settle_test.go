package redis

import (
	"reflect"
	"testing"
)

func TestMergeJoinsTheAcksOfOneProcessingListOnly(t *testing.T) {
	call := func(script luaScript, processing string, args ...any) *settlement {
		return &settlement{script: script, keys: []string{processing, "{q}:attempts"}, args: args, done: make(chan error, 1)}
	}
	ackA1 := call(listAckScript, "{q}:processing:a", "a1")
	retry := call(listRetryScript, "{q}:processing:a", "r", int64(0), "id")
	ackB := call(listAckScript, "{q}:processing:b", "b1")
	ackA2 := call(listAckScript, "{q}:processing:a", "a2")
	commands := merge([]*settlement{ackA1, retry, ackB, ackA2})

	type shape struct {
		script string
		args   []any
		calls  []*settlement
	}
	var got []shape
	for _, c := range commands {
		got = append(got, shape{c.script.Hash(), c.args, c.calls})
	}
	want := []shape{
		{listAckScript.Hash(), []any{"a1", "a2"}, []*settlement{ackA1, ackA2}},
		{listRetryScript.Hash(), []any{"r", int64(0), "id"}, []*settlement{retry}},
		{listAckScript.Hash(), []any{"b1"}, []*settlement{ackB}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("merged into %+v, want %+v", got, want)
	}
	if !reflect.DeepEqual(ackA1.args, []any{"a1"}) {
		t.Fatalf("merging changed a caller's arguments: %v", ackA1.args)
	}

	commands[0].answer(nil)
	for _, s := range []*settlement{ackA1, ackA2} {
		select {
		case err := <-s.done:
			if err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatal("a merged ack got no answer")
		}
	}
}
