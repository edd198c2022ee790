/* A shared object built by gcc, not by Go (a bad-input case):
   gcc -shared -fPIC -o notgo.so notgo.c */
int notgo(void) { return 42; }
