// Package winetest holds helpers for the Windows tests of vmgenie, which
// run on Linux under Wine (scripts/test-windows.sh) as well as on Windows.
// Only _test.go files import it.
//
// Wine differs from Windows in ways that the tests meet, measured with
// Debian 12's wine 8.0:
//   - A go-winio pipe listener's first instance is meant to stay
//     disconnected until the next instance exists, and Windows keeps clients
//     away from it. Wine hands the first client to that instance, which no
//     Accept serves, so the client waits forever. PrimePipe takes that
//     instance out of play.
//   - Wine creates a second pipe with the same name although go-winio asks
//     for the first instance only (FILE_CREATE), so a second listener on a
//     busy name succeeds.
//   - Wine stores the security descriptor of a pipe but does not check it
//     on open, so tests read the descriptor back instead of expecting
//     access denied.
//   - Wine does not store the security descriptor of a file or directory
//     at all: SetNamedSecurityInfo succeeds, and GetNamedSecurityInfo
//     returns a DACL made from the Unix mode bits. Tests of file DACLs
//     therefore run on Windows only.
//   - os.RemoveAll of Go 1.26 fails on directories under Wine with
//     "Invalid function", which breaks t.TempDir's cleanup. TempDir
//     removes its directory entry by entry instead.
package winetest
