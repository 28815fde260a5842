//! outlayer-keystore-dao (skeleton)
