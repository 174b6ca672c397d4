package config

import "strings"

// suggest returns the name closest to key by edit distance, ignoring case,
// or "" when none is close enough to be a likely typo: at most 2 edits, or a
// third of the key's length for long keys.
func suggest(key string, names []string) string {
	key = strings.ToLower(key)
	limit := max(2, len(key)/3)
	best, bestDistance := "", limit+1
	for _, name := range names {
		if d := editDistance(key, name); d < bestDistance {
			best, bestDistance = name, d
		}
	}
	return best
}

// editDistance returns the Levenshtein distance between a and b, counting
// bytes: keys are ASCII.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
