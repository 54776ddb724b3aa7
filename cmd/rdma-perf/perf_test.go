package main

import "testing"

// callSize doubles after full calls well inside the budget, up to most, halves
// after a call over it, down to one post, and keeps its size after a short
// call (fewer posts than its size) under a quarter of the budget, or a call
// between a quarter and the whole budget.
func TestCallSize(t *testing.T) {
	c := &callSize{n: 1, most: 6, budget: 1000}
	for _, step := range []struct {
		posts int
		took  int64
		want  int
	}{
		{1, 100, 2},
		{2, 100, 4},
		{4, 100, 6}, // most
		{6, 100, 6},
		{3, 100, 6},  // a short call: the queue had room for 3
		{6, 500, 6},  // inside the budget
		{6, 1000, 6}, // at it
		{6, 250, 6},  // at a quarter of it
		{6, 1500, 3},
		{2, 1500, 1}, // a short call over the budget halves the size
		{3, 5000, 1},
		{1, 5000, 1}, // never below one post
		{1, 249, 2},
	} {
		c.took(step.posts, step.took)
		if c.n != step.want {
			t.Fatalf("after %d posts in %d cycles: %d per call, want %d", step.posts, step.took, c.n, step.want)
		}
	}
}
