// Package lab holds the lab's end-to-end test: the Services guide's walkthrough, step by step,
// in a lab of its own (build tags netns and integration; root). See lab/README.md.
package lab
