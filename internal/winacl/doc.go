// Package winacl sets the Windows access control lists that keep vmgenie's
// data private: the service's data directory under %ProgramData%, which
// holds each instance's SSH private key and which every user may read by
// default, and the per-user copy of a key that ssh.exe gets.
//
// It calls the Win32 security functions of golang.org/x/sys/windows
// directly. Running icacls.exe would put paths into a command line, and no
// Go library covers reading a DACL back and comparing it entry by entry.
package winacl
