package pshost_test

import (
	"encoding/json"
	"strconv"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
