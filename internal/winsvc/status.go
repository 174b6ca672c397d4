package winsvc

// Status is what the service control manager reports about the service.
type Status struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Installed   bool   `json:"installed"`
	// State is "running", "stopped", "start pending", "stop pending",
	// "paused", or "not installed".
	State string `json:"state"`
	// StartType is "automatic", "manual" or "disabled".
	StartType string `json:"start_type"`
	// BinaryPath is the command line the service control manager runs.
	BinaryPath string `json:"binary_path"`
	PID        uint32 `json:"pid"`
}
