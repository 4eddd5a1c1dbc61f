#include "libs/store/gc.h"
int main(){return 0;}
