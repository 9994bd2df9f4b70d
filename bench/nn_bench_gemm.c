/* nn_bench_gemm - the GEMM candidates side by side on the shapes of the two
 * benchmark nets (bench/nn_bench.sh), one thread each: OpenBLAS, BLIS,
 * libxsmm and oneDNN's sgemm, in GFLOP/s per second of the thread's CPU
 * time. The convolutions' own candidate, oneDNN's direct convolution, is in
 * nn_bench_layers; the linear layers use the winner here (oneDNN). Built
 * only where BLIS and libxsmm are installed (apt-get install libblis-dev
 * libxsmm-dev); run with OMP_NUM_THREADS=1. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cblas.h>
#include <blis.h>
#include <libxsmm.h>
#include <oneapi/dnnl/dnnl.h>
extern void openblas_set_num_threads(int);
extern void omp_set_num_threads(int); /* libgomp: BLIS and oneDNN run on it */
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
static float *rnd(long n){float*p=aligned_alloc(64,((n*4+63)/64)*64); for(long i=0;i<n;i++) p[i]=(float)rand()/RAND_MAX-0.5f; return p;}
/* row-major C[MxN] = A[MxK] * op(B) where tb: B is [NxK] (trans) else [KxN] */
static void bench(const char *what, int M, int N, int K, int tb){
  float *A=rnd((long)M*K), *B=rnd((long)K*N), *C=rnd((long)M*N);
  double fl=2.0*M*N*K; int reps=(int)(1e9/fl)+2;
  double t0,g[4];
  cblas_sgemm(CblasRowMajor,CblasNoTrans,tb?CblasTrans:CblasNoTrans,M,N,K,1,A,K,B,tb?K:N,0,C,N);
  t0=now(); for(int r=0;r<reps;r++) cblas_sgemm(CblasRowMajor,CblasNoTrans,tb?CblasTrans:CblasNoTrans,M,N,K,1,A,K,B,tb?K:N,0,C,N); g[0]=fl*reps/(now()-t0)/1e9;
  float one=1,zero=0;
  /* BLIS typed API with general strides: row-major A (rs=K, cs=1) */
  bli_sgemm(BLIS_NO_TRANSPOSE, tb?BLIS_TRANSPOSE:BLIS_NO_TRANSPOSE, M,N,K,&one,A,K,1,B,tb?K:N,1,&zero,C,N,1);
  t0=now(); for(int r=0;r<reps;r++) bli_sgemm(BLIS_NO_TRANSPOSE, tb?BLIS_TRANSPOSE:BLIS_NO_TRANSPOSE, M,N,K,&one,A,K,1,B,tb?K:N,1,&zero,C,N,1); g[1]=fl*reps/(now()-t0)/1e9;
  /* libxsmm: column-major; row-major C = A*op(B) is column-major C^T = op(B)^T * A^T */
  libxsmm_blasint m=N,n=M,k=K,lda=tb?K:N,ldb=K,ldc=N; char ta=tb?'T':'N', tn='N';
  libxsmm_sgemm(&ta,&tn,&m,&n,&k,&one,B,&lda,A,&ldb,&zero,C,&ldc);
  t0=now(); for(int r=0;r<reps;r++) libxsmm_sgemm(&ta,&tn,&m,&n,&k,&one,B,&lda,A,&ldb,&zero,C,&ldc); g[2]=fl*reps/(now()-t0)/1e9;
  dnnl_sgemm('N',tb?'T':'N',M,N,K,1,A,K,B,tb?K:N,0,C,N);
  t0=now(); for(int r=0;r<reps;r++) dnnl_sgemm('N',tb?'T':'N',M,N,K,1,A,K,B,tb?K:N,0,C,N); g[3]=fl*reps/(now()-t0)/1e9;
  printf("%-44s M=%5d N=%5d K=%5d  OpenBLAS %5.1f  BLIS %5.1f  libxsmm %5.1f  oneDNN %5.1f GFLOP/s\n",what,M,N,K,g[0],g[1],g[2],g[3]);
  free(A);free(B);free(C);
}
int main(void){
  openblas_set_num_threads(1); omp_set_num_threads(1); libxsmm_init();
  bench("modern conv2 fwd (im2row, 32 images)",64,196*32,288,1);
  bench("modern conv2 dW (im2row, 1 image)",64,288,196,0);
  bench("tutorial conv2 fwd (im2row, 16 images)",20,64*16,250,1);
  bench("modern fc1 fwd (32 images)",32,128,3136,1);
  bench("modern fc1 dW",128,3136,32,0);
  bench("modern fc1 dX",32,3136,128,0);
  bench("tutorial fc1 fwd (32 images)",32,50,320,1);
  bench("tutorial fc1 dW",50,320,32,0);
  return 0;
}
