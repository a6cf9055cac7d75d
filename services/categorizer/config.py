from veil.config import CommonSettings


class CategorizerSettings(CommonSettings):
    pass
