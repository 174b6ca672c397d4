// Package e2e holds the end-to-end tests of "vmgenie seed", which run the
// command line in testscript scripts (testdata/*.txtar) and read the images
// back with isoinfo, blkid and vmgenie's own reader.
package e2e
