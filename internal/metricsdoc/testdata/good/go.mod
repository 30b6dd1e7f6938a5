module example.com/good
