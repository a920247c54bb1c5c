#!/usr/bin/env bash
# Builds the GPU bundle that tools/device-test.sh runs on a GPU machine. The GPU machine has nvcc
# and a driver but none of the Debian -dev packages (yaml-cpp, utf8proc, GoogleTest, Google
# Benchmark), so the CUDA build happens HERE (nvcc compiles for sm_90 without a GPU) and the
# bundle carries the executables and the shared libraries they need beyond glibc/libstdc++.
#   usage: tools/device-pack.sh   -> .devrun/bundle/{bin,lib} and .devrun/bundle.tar.xz (about 3 MB)
# Then, on the device:  tools/device-test.sh OUTDIR   (carry .devrun/bundle.tar.xz; it unpacks it)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build-device}
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DQMSIM_WITH_SYSTEMC=OFF -DQMSIM_WITH_CUDA=ON >/dev/null
cmake --build "$B" -j"$(nproc)" --target qmsim gpu_test gpu_ops_test gpu_bench
D=.devrun/bundle
rm -rf "$D"
mkdir -p "$D/bin" "$D/lib"
for t in qmsim gpu_test gpu_ops_test gpu_bench; do strip -o "$D/bin/$t" "$B/bin/$t"; done
# Shared libraries other than the C/C++ runtime (present on any Linux with a newer glibc).
for lib in $(ldd "$D"/bin/* | awk '/=> \// {print $3}' | sort -u); do
  case "$(basename "$lib")" in
    libc.so* | libm.so* | libstdc++* | libgcc_s* | ld-linux* | libpthread* | libdl* | librt*) ;;
    *) cp -L "$lib" "$D/lib/" ;;
  esac
done
git rev-parse HEAD > "$D/REVISION" 2>/dev/null || true
# The device call carries the working tree (at most 64 MiB with the shipped model): send it packed.
tar -C .devrun -cJf .devrun/bundle.tar.xz bundle
ls -la .devrun/bundle.tar.xz
ls "$D/bin" "$D/lib"
