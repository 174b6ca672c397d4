# Runner for one request in its own powershell.exe process: the request is
# base64-encoded UTF-8 JSON in the VMGENIE_REQUEST environment variable, and
# the response is one JSON line on stdout. The exit code is 0 when the
# request succeeded and 1 when it failed.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$utf8 = New-Object System.Text.UTF8Encoding -ArgumentList $false
[Console]::OutputEncoding = $utf8
$exitCode = 1
try {
    $json = $utf8.GetString([Convert]::FromBase64String($env:VMGENIE_REQUEST))
    $request = ConvertFrom-Json -InputObject $json
    $compiled = New-Object System.Collections.Hashtable -ArgumentList ([StringComparer]::Ordinal)
    $response = Invoke-GenieRequest $request $compiled
    if ($response.ok) {
        $exitCode = 0
    }
} catch {
    $response = [ordered]@{ id = 0; ok = $false; error = (New-GenieError $_) }
}
[Console]::Out.WriteLine((ConvertTo-GenieJson $response))
[Console]::Out.Flush()
exit $exitCode
