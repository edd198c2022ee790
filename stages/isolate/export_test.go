package isolate

// OutOfMemory exports outOfMemory to the tests.
var OutOfMemory = outOfMemory
