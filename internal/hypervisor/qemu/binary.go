package qemu

// Binary returns the QEMU system emulator the driver runs, as configured
// or chosen for the host, so callers can check that it is installed.
func (d *Driver) Binary() string { return d.cfg.Binary }
