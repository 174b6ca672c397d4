package seed

import "time"

// fixedTime makes images reproducible in tests.
var fixedTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
