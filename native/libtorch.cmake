# Settings every C++ target built on libtorch here shares (the addon, CMakeLists.txt at the root, and
# the benchmarks' C++ floor, bench/cpp): Release by default, ccache when present, libtorch found in
# CMAKE_PREFIX_PATH, and the C++ standard its headers need (torch >= 2.14: C++20; older: 17).
if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE Release)
endif()

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${CCACHE_PROGRAM}")
  set(CMAKE_CUDA_COMPILER_LAUNCHER "${CCACHE_PROGRAM}")
endif()

find_package(Torch REQUIRED)
if(Torch_VERSION VERSION_GREATER_EQUAL "2.14")
  set(CMAKE_CXX_STANDARD 20)
else()
  set(CMAKE_CXX_STANDARD 17)
endif()
set(CMAKE_CXX_STANDARD_REQUIRED ON)
