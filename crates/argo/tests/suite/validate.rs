use crate::load;
