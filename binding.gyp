# node-gyp build of the same native sources (CPU kernels only), for tooling that expects binding.gyp.
# The primary build is CMake (CMakeLists.txt via cmake-js); both read the libtorch recorded in
# .torch-env.json by `npm install`. Check with: bash scripts/check-gyp.sh
{
  "variables": {
    "libtorch": "<!(node -p \"require('./.torch-env.json').libtorch\")",
    "cxx_std": "<!(node -p \"parseFloat(require('./.torch-env.json').version) >= 2.14 ? 'c++20' : 'c++17'\")"
  },
  "targets": [
    {
      "target_name": "latent_tokens",
      "sources": [
        "<!@(node -p \"require('fs').readdirSync('native').filter(f => f.endsWith('.cc')).map(f => 'native/' + f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/generated').filter(f => f.endsWith('.cc')).map(f => 'native/generated/' + f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/kernels').filter(f => f.endsWith('.cc')).map(f => 'native/kernels/' + f).join(' ')\")"
      ],
      "include_dirs": [
        "native",
        "<(libtorch)/include",
        "<(libtorch)/include/torch/csrc/api/include"
      ],
      "defines": ["NAPI_VERSION=8", "_GLIBCXX_USE_CXX11_ABI=1"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=<(cxx_std)", "-fexceptions", "-frtti", "-O3", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "libraries": [
        "-L<(libtorch)/lib",
        "-ltorch", "-ltorch_cpu", "-lc10",
        "-Wl,-rpath,<(libtorch)/lib"
      ]
    }
  ]
}
