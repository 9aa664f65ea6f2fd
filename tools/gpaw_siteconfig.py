# GPAW build configuration for Debian/Ubuntu (read via GPAW_CONFIG at `pip install gpaw`).
# MPI + ScaLAPACK: FD/PW modes need ScaLAPACK to run on more than one rank.
compiler = 'mpicxx'
mpi = True
libraries = ['openblas', 'fftw3', 'xc', 'scalapack-openmpi']
scalapack = True
fftw = True
libxc = True
