// The floor of a batch-1 dense layer 784 -> 128 in f32 on one core: the
// time to read its 401 KB of weights from L2 (8 independent AVX2 sums, so
// bandwidth, not add latency, bounds it). bench/README.md quotes it.
//
//     gcc -O2 -mavx2 -o /tmp/l2_stream bench/l2_stream.c && /tmp/l2_stream
#include <immintrin.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
int main(){
  int n = 100352; float *w = aligned_alloc(64, n*4); for(int i=0;i<n;i++) w[i]=i*1e-6f;
  double best=1e9;
  for(int r=0;r<20000;r++){
    struct timespec a,b; clock_gettime(CLOCK_MONOTONIC,&a);
    __m256 s0=_mm256_setzero_ps(),s1=s0,s2=s0,s3=s0,s4=s0,s5=s0,s6=s0,s7=s0;
    for(int i=0;i<n;i+=64){ s0=_mm256_add_ps(s0,_mm256_load_ps(w+i)); s1=_mm256_add_ps(s1,_mm256_load_ps(w+i+8)); s2=_mm256_add_ps(s2,_mm256_load_ps(w+i+16)); s3=_mm256_add_ps(s3,_mm256_load_ps(w+i+24)); s4=_mm256_add_ps(s4,_mm256_load_ps(w+i+32)); s5=_mm256_add_ps(s5,_mm256_load_ps(w+i+40)); s6=_mm256_add_ps(s6,_mm256_load_ps(w+i+48)); s7=_mm256_add_ps(s7,_mm256_load_ps(w+i+56)); } s0=_mm256_add_ps(_mm256_add_ps(s0,s4),_mm256_add_ps(s5,_mm256_add_ps(s6,s7)));
    clock_gettime(CLOCK_MONOTONIC,&b);
    float t[8]; _mm256_storeu_ps(t,_mm256_add_ps(_mm256_add_ps(s0,s1),_mm256_add_ps(s2,s3)));
    double us=(b.tv_sec-a.tv_sec)*1e6+(b.tv_nsec-a.tv_nsec)/1e3; if(us<best)best=us; if(t[0]==12345)puts("x");
  }
  printf("stream 401 KB from L2 (AVX2 loads): %.2f us\n", best);
}
