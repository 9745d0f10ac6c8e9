# Build the Windows bundle (a folder with wuerstchen-desktop.exe, zipped) in a fresh virtual environment
# holding only the runtime dependencies, then run its self-test.
#
#   powershell -ExecutionPolicy Bypass -File packaging\build_windows.ps1                 # CPU torch
#   powershell -ExecutionPolicy Bypass -File packaging\build_windows.ps1 -Variant cuda `
#       -TorchIndexUrl https://download.pytorch.org/whl/cu130                          # CUDA 13.0 torch
#
# The torch version is pinned in packaging\bundle_info.py; cu130 is the CUDA index that carries it (torch
# 2.12 dropped cu128). Needs Python 3.10+ (python.org or the py launcher) for x64.
param(
    [string]$Variant = "cpu",
    [string]$TorchRequirement = "",  # default: the pin in packaging\bundle_info.py
    # PyPI's Windows torch is the CPU build; CUDA builds come from download.pytorch.org.
    [string]$TorchIndexUrl = "",
    [string]$Python = "python",
    [string]$Venv = "build\bundle-venv"
)
$ErrorActionPreference = "Stop"
Set-Location (Split-Path -Parent $PSScriptRoot)

function Invoke-Checked {
    param([string]$Exe, [string[]]$Arguments)
    & $Exe @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$Exe $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

$started = Get-Date
if (-not $TorchRequirement) { $TorchRequirement = (& $Python packaging\bundle_info.py torch).Trim() }
Invoke-Checked $Python @("-m", "venv", "--clear", $Venv)
$py = Join-Path $Venv "Scripts\python.exe"
Invoke-Checked $py @("-m", "pip", "install", "--quiet", "--upgrade", "pip")
if ($TorchIndexUrl) {
    Invoke-Checked $py @("-m", "pip", "install", "--quiet", $TorchRequirement, "--index-url", $TorchIndexUrl)
} else {
    Invoke-Checked $py @("-m", "pip", "install", "--quiet", $TorchRequirement)
}
Invoke-Checked $py @("-m", "pip", "install", "--quiet", ".[bundle]")
New-Item -ItemType Directory -Force build | Out-Null
& $py -m pip list --format=freeze | Set-Content build\bundle-requirements.txt

Invoke-Checked $py @("packaging\build.py", "--variant", $Variant)
Write-Host ("total {0:N0} s" -f ((Get-Date) - $started).TotalSeconds)
