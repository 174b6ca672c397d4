/*
 * bcryptprimitives.dll for Wine 8.0, which lacks it. Go's Windows runtime
 * loads ProcessPrng from this DLL at start and aborts when it is missing
 * (loadOptionalSyscalls in runtime/os_windows.go of Go 1.26). This test-only stand-in fills the buffer from
 * BCryptGenRandom with the system RNG, which Wine implements.
 *
 * Built and installed into the test WINEPREFIX by scripts/test-windows.sh.
 * It never ships with vmgenie.
 */
#include <windows.h>
#include <bcrypt.h>

/* BCryptGenRandom takes a ULONG length, so large requests go in chunks. */
#define MAX_CHUNK 0x40000000UL

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
	while (length > 0) {
		ULONG chunk = length > MAX_CHUNK ? MAX_CHUNK : (ULONG)length;
		if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
			return FALSE;
		data += chunk;
		length -= chunk;
	}
	return TRUE;
}
