# Request loop of the long-lived powershell.exe process. Each stdin line is
# one JSON request; each response is one JSON line on stdout. The first line
# written announces that the loop is ready. The loop ends when stdin closes.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$utf8 = New-Object System.Text.UTF8Encoding -ArgumentList $false
[Console]::InputEncoding = $utf8
[Console]::OutputEncoding = $utf8
$reader = [Console]::In
$writer = [Console]::Out
# Compiled scripts, keyed by their exact text.
$compiled = New-Object System.Collections.Hashtable -ArgumentList ([StringComparer]::Ordinal)

try {
    $ready = [ordered]@{
        ready      = $true
        protocol   = 1
        ps_version = $PSVersionTable.PSVersion.ToString()
        pid        = $PID
    }
    $writer.WriteLine((ConvertTo-GenieJson $ready))
    $writer.Flush()
    while ($true) {
        $line = $reader.ReadLine()
        if ($null -eq $line) {
            break
        }
        if ($line.Trim().Length -eq 0) {
            continue
        }
        try {
            $request = ConvertFrom-Json -InputObject $line
        } catch {
            $failure = [ordered]@{ id = 0; ok = $false; error = (New-GenieError $_) }
            $writer.WriteLine((ConvertTo-GenieJson $failure))
            $writer.Flush()
            continue
        }
        $response = Invoke-GenieRequest $request $compiled
        $writer.WriteLine((ConvertTo-GenieJson $response))
        $writer.Flush()
    }
} catch {
    $failure = [ordered]@{ id = 0; ok = $false; error = (New-GenieError $_) }
    $writer.WriteLine((ConvertTo-GenieJson $failure))
    $writer.Flush()
    exit 1
}
exit 0
